import { HotspareError } from './hotspare-error.js';

export type IsolationErrorKind = 'unreachable' | 'auth' | 'timeout' | 'refused' | 'garbage';

/**
 * An isolation device (a switch port, a PDU outlet) failed to cut or restore a member. The
 * message names the member, the device and the operation, never the community or password.
 */
export class IsolationError extends HotspareError {
  override name = 'IsolationError';
  readonly kind: IsolationErrorKind;

  constructor(
    member: string,
    operation: string,
    kind: IsolationErrorKind,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`isolation of ${member}: ${operation}: ${kind}: ${detail}`, { member, operation, kind }, options);
    this.kind = kind;
  }
}

export function isIsolationError(error: unknown): error is IsolationError {
  return error instanceof IsolationError;
}
