/**
 * RMCP+ cipher suites and the keys of a session (IPMI v2.0 §13.28-13.32). Pure: node:crypto only.
 *
 * Supported: suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), the one ipmi_sim and most
 * BMCs speak, and suite 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128).
 * Any other suite is refused by `cipherSuite()` with an error that names it.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RmcpCodecError, need } from './codec-error.js';

export type HashName = 'sha1' | 'sha256';

export interface CipherSuite {
  readonly id: number;
  /** Authentication (RAKP) algorithm number of the Open Session Request, and its hash. */
  readonly authAlgorithm: number;
  readonly hash: HashName;
  /** Integrity algorithm number and the length of its truncated AuthCode. */
  readonly integrityAlgorithm: number;
  readonly integrityLength: number;
  /** Length of the RAKP 4 integrity check value (HMAC(SIK, ...) truncated). */
  readonly rakp4Length: number;
  /** Confidentiality algorithm number (1 = AES-CBC-128). */
  readonly confidentialityAlgorithm: number;
}

const SUITES: ReadonlyMap<number, CipherSuite> = new Map([
  [
    3,
    {
      id: 3,
      authAlgorithm: 0x01,
      hash: 'sha1',
      integrityAlgorithm: 0x01,
      integrityLength: 12,
      rakp4Length: 12,
      confidentialityAlgorithm: 0x01,
    },
  ],
  [
    17,
    {
      id: 17,
      authAlgorithm: 0x03,
      hash: 'sha256',
      integrityAlgorithm: 0x04,
      integrityLength: 16,
      rakp4Length: 16,
      confidentialityAlgorithm: 0x01,
    },
  ],
]);

export const SUPPORTED_CIPHER_SUITES: readonly number[] = [...SUITES.keys()];

/** The suite's parameters; an unsupported suite is an error naming it and the supported ones. */
export function cipherSuite(id: number): CipherSuite {
  const suite = SUITES.get(id);
  if (suite === undefined) {
    throw new RmcpCodecError(
      'cipher suite',
      `suite ${id} is not supported (supported: ${SUPPORTED_CIPHER_SUITES.join(', ')})`,
    );
  }
  return suite;
}

export function hmac(hash: HashName, key: Buffer, ...parts: readonly Buffer[]): Buffer {
  const mac = createHmac(hash, key);
  for (const part of parts) {
    mac.update(part);
  }
  return mac.digest();
}

/** Constant-time comparison of two codes (false when the lengths differ). */
export function sameCode(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Keys of one established session. */
export interface SessionKeys {
  sik: Buffer;
  /** Integrity key. */
  k1: Buffer;
  /** Confidentiality key (AES-CBC-128 uses its first 16 bytes). */
  k2: Buffer;
}

/**
 * SIK = HMAC_Kuid(Rm | Rc | RoleM | ULengthM | UNameM) (§13.31, with Kg null so Kuid is used),
 * K1 = HMAC_SIK(0x01 x 20), K2 = HMAC_SIK(0x02 x 20) (§13.32). The constants are 20 bytes for
 * both hashes, as the spec writes them.
 */
export function deriveKeys(
  suite: CipherSuite,
  kuid: Buffer,
  consoleRandom: Buffer,
  bmcRandom: Buffer,
  role: number,
  username: Buffer,
): SessionKeys {
  const sik = hmac(suite.hash, kuid, consoleRandom, bmcRandom, Buffer.from([role, username.length]), username);
  return {
    sik,
    k1: hmac(suite.hash, sik, Buffer.alloc(20, 0x01)),
    k2: hmac(suite.hash, sik, Buffer.alloc(20, 0x02)),
  };
}

/** Truncated HMAC with K1 over the integrity-protected range of a session packet. */
export function integrityCode(suite: CipherSuite, k1: Buffer, data: Buffer): Buffer {
  return hmac(suite.hash, k1, data).subarray(0, suite.integrityLength);
}

const AES_BLOCK = 16;

/**
 * AES-CBC-128 payload (§13.29): IV, then the encryption of data | pad 1,2,3.. | pad length,
 * padded to a whole number of blocks. `iv` is random unless given (tests).
 */
export function encryptPayload(k2: Buffer, data: Buffer, iv: Buffer = randomBytes(AES_BLOCK)): Buffer {
  const padLength = (AES_BLOCK - ((data.length + 1) % AES_BLOCK)) % AES_BLOCK;
  const pad = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const cipher = createCipheriv('aes-128-cbc', k2.subarray(0, 16), iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.concat([data, pad, Buffer.from([padLength])])), cipher.final()]);
}

/** Inverse of `encryptPayload`; bad sizes and bad padding are `RmcpCodecError`. */
export function decryptPayload(k2: Buffer, payload: Buffer): Buffer {
  need(payload, 2 * AES_BLOCK, 'encrypted payload');
  if (payload.length % AES_BLOCK !== 0) {
    throw new RmcpCodecError('encrypted payload', `${payload.length} bytes is not a whole number of AES blocks`);
  }
  const decipher = createDecipheriv('aes-128-cbc', k2.subarray(0, 16), payload.subarray(0, AES_BLOCK));
  decipher.setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(payload.subarray(AES_BLOCK)), decipher.final()]);
  const padLength = plain[plain.length - 1] ?? 0;
  if (padLength >= AES_BLOCK || padLength + 1 > plain.length) {
    throw new RmcpCodecError('encrypted payload', `confidentiality pad length ${padLength} is invalid`);
  }
  // The spec fixes the pad bytes to 1, 2, 3, ...; some BMCs fill them otherwise, so they are not checked.
  return plain.subarray(0, plain.length - 1 - padLength);
}
