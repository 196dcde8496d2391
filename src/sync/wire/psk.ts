/**
 * The cluster secret (`sync.key_file`) and the TLS settings built on it. The file is read
 * once; only a key derived from it (HMAC-SHA256) is kept, in a private field that neither
 * JSON nor util.inspect shows. TLS 1.2 with PSK cipher suites: Node 20's TLS 1.3 has no
 * PSK-only handshake (it wants a certificate), so 1.2 it is; ECDHE-PSK first for forward
 * secrecy. Without the same key no handshake completes: the Finished messages do not verify.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { SyncError } from '../../../hal/errors/index.js';

export const PSK_IDENTITY = 'hotspare-sync-v1';
export const CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:PSK-AES256-GCM-SHA384';
export const MIN_KEY_BYTES = 16;

export class SyncKey {
  readonly #psk: Buffer;

  private constructor(psk: Buffer) {
    this.#psk = psk;
  }

  /** Reads and checks the key file: a regular file, no access for group or others, >= 16 bytes. */
  static fromFile(path: string): SyncKey {
    let content: Buffer;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new SyncError('key', `${path} is not a regular file`, { file: path });
      if ((st.mode & 0o077) !== 0)
        throw new SyncError(
          'key',
          `${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
          { file: path },
        );
      content = readFileSync(path);
    } catch (error) {
      if (error instanceof SyncError) throw error;
      throw new SyncError(
        'key',
        `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
        { file: path },
        { cause: error },
      );
    }
    try {
      return SyncKey.fromSecret(content, path);
    } finally {
      // The file's secret is not kept: only the derived key lives on, and this buffer is
      // zeroed so the secret does not linger in the heap until the collector gets to it.
      content.fill(0);
    }
  }

  /** From the secret itself (tests); one trailing newline is not part of it. */
  static fromSecret(secret: Buffer, source = 'the key'): SyncKey {
    let end = secret.length;
    if (end > 0 && secret[end - 1] === 0x0a) end -= 1;
    if (end > 0 && secret[end - 1] === 0x0d) end -= 1;
    if (end < MIN_KEY_BYTES)
      throw new SyncError(
        'key',
        `${source} holds ${end} bytes; at least ${MIN_KEY_BYTES} are needed (e.g. head -c 32 /dev/urandom | base64)`,
      );
    const psk = createHmac('sha256', secret.subarray(0, end)).update('hotspare sync psk v1').digest();
    return new SyncKey(psk);
  }

  /**
   * The derived key, for the pull worker thread only (worker_threads: same process, same
   * memory protection). Never logged; the worker rebuilds a SyncKey with `fromDerived`.
   */
  derivedForWorker(): Uint8Array {
    return new Uint8Array(this.#psk);
  }

  /** A key from the bytes `derivedForWorker` gave; those bytes are zeroed once copied. */
  static fromDerived(psk: Uint8Array): SyncKey {
    if (psk.length !== 32) throw new SyncError('key', 'a derived key must be 32 bytes');
    const key = new SyncKey(Buffer.from(psk));
    psk.fill(0);
    return key;
  }

  serverOptions(handshakeTimeoutMs: number): TlsOptions {
    const psk = this.#psk;
    return {
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ciphers: CIPHERS,
      honorCipherOrder: true,
      handshakeTimeout: handshakeTimeoutMs,
      pskIdentityHint: PSK_IDENTITY,
      pskCallback: (_socket, identity) => (identity === PSK_IDENTITY ? psk : null),
    };
  }

  clientOptions(host: string, port: number): ConnectionOptions {
    const psk = this.#psk;
    return {
      host,
      port,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ciphers: CIPHERS,
      // PSK authenticates both sides; there is no certificate to check.
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk, identity: PSK_IDENTITY }),
    };
  }

  toJSON(): string {
    return '[sync key]';
  }
}
