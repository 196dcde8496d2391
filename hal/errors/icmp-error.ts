import { HotspareError } from './hotspare-error.js';

/** The ICMP socket cannot be opened or used (typically: not root and no CAP_NET_RAW). */
export class IcmpError extends HotspareError {
  override name = 'IcmpError';

  constructor(detail: string, options?: { cause?: unknown }) {
    super(`icmp: ${detail}`, {}, options);
  }
}

export function isIcmpError(error: unknown): error is IcmpError {
  return error instanceof IcmpError;
}
