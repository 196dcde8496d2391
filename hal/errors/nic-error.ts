import { HotspareError } from './hotspare-error.js';

/** A NIC operation failed; names the interface and, where there is one, the address. */
export class NicError extends HotspareError {
  override name = 'NicError';

  constructor(nic: string, operation: string, detail: string, address = '', options?: { cause?: unknown }) {
    super(
      `nic ${nic}: ${operation}${address === '' ? '' : ` ${address}`}: ${detail}`,
      { nic, operation, address },
      options,
    );
  }
}

export function isNicError(error: unknown): error is NicError {
  return error instanceof NicError;
}
