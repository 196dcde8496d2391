import { HotspareError } from '../../errors/hotspare-error.js';

/**
 * A datagram or message that does not decode: too short, bad checksum, bad integrity code,
 * wrong header. Raised by the pure codec modules only; the session turns it into a dropped
 * datagram (and, if nothing better arrives, a `BmcError` of kind `garbage`).
 */
export class RmcpCodecError extends HotspareError {
  override name = 'RmcpCodecError';

  constructor(what: string, detail: string) {
    super(`${what}: ${detail}`, { what });
  }
}

export function isRmcpCodecError(error: unknown): error is RmcpCodecError {
  return error instanceof RmcpCodecError;
}

/** Throws `RmcpCodecError` unless `buffer` holds at least `length` bytes. */
export function need(buffer: Buffer, length: number, what: string): void {
  if (buffer.length < length) {
    throw new RmcpCodecError(what, `${buffer.length} bytes, at least ${length} needed`);
  }
}
