import { HotspareError } from './hotspare-error.js';

/**
 * What went wrong with the peer heartbeat:
 * - `key`: the key file is missing, unreadable, too short or readable by others.
 * - `socket`: a heartbeat socket cannot be used (closed, or an error other than a missing address).
 */
export type PeerErrorKind = 'key' | 'socket';

/** The peer heartbeat failed. The message names the file or address involved, never the key. */
export class PeerError extends HotspareError {
  override name = 'PeerError';
  readonly kind: PeerErrorKind;

  constructor(
    kind: PeerErrorKind,
    detail: string,
    context: Record<string, string | number | boolean> = {},
    options?: { cause?: unknown },
  ) {
    super(`peer: ${kind}: ${detail}`, { kind, ...context }, options);
    this.kind = kind;
  }
}

export function isPeerError(error: unknown): error is PeerError {
  return error instanceof PeerError;
}
