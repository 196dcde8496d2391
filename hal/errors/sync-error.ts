import { HotspareError } from './hotspare-error.js';

/**
 * What went wrong with replication:
 * - `key`: the key file is missing, unreadable, too short or readable by others.
 * - `connect`: the primary's sync service cannot be reached.
 * - `auth`: the TLS-PSK handshake failed (the peers do not share the key).
 * - `timeout`: nothing moved for `sync.timeout_ms`.
 * - `protocol`: a malformed or unexpected frame; the connection is dropped.
 * - `manifest`: a manifest entry is malformed (types, duplicates, missing parents).
 * - `confine`: a manifest entry would escape its replicated root.
 * - `roots`: the two servers' `sync.paths` do not match by position, or a root is unusable.
 * - `limit`: `max_file_bytes` or `max_total_bytes` exceeded.
 * - `io`: reading or writing the replicated files failed.
 * - `serve`: the primary cannot serve (bind failed).
 */
export type SyncErrorKind =
  'key' | 'connect' | 'auth' | 'timeout' | 'protocol' | 'manifest' | 'confine' | 'roots' | 'limit' | 'io' | 'serve';

/** Replication failed. The message names the peer or path involved, never the key. */
export class SyncError extends HotspareError {
  override name = 'SyncError';
  readonly kind: SyncErrorKind;

  constructor(
    kind: SyncErrorKind,
    detail: string,
    context: Record<string, string | number | boolean> = {},
    options?: { cause?: unknown },
  ) {
    super(`sync: ${kind}: ${detail}`, { kind, ...context }, options);
    this.kind = kind;
  }
}

export function isSyncError(error: unknown): error is SyncError {
  return error instanceof SyncError;
}
