import { HotspareError } from './hotspare-error.js';

export type BmcErrorKind = 'unreachable' | 'auth' | 'timeout' | 'refused' | 'garbage';

/** A BMC operation failed. The message names the member and operation, never the password. */
export class BmcError extends HotspareError {
  override name = 'BmcError';
  readonly kind: BmcErrorKind;

  constructor(member: string, operation: string, kind: BmcErrorKind, detail: string, options?: { cause?: unknown }) {
    super(`bmc of ${member}: ${operation}: ${kind}: ${detail}`, { member, operation, kind }, options);
    this.kind = kind;
  }
}

export function isBmcError(error: unknown): error is BmcError {
  return error instanceof BmcError;
}
