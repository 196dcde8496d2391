/**
 * The peer heartbeat's key (`peer.key_file`), read once. The same rules as the sync key: a
 * regular file, no access for group or others, at least 16 bytes (one trailing newline is
 * not part of it). Only a key derived from it (HMAC-SHA256 with a label of its own, so it
 * differs from the sync key even when both files are the same) is kept, in a private field
 * that neither JSON nor util.inspect shows.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { PeerError } from '../../hal/errors/index.js';

export const MIN_PEER_KEY_BYTES = 16;
export const TAG_BYTES = 32;

export class PeerKey {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  static fromFile(path: string): PeerKey {
    let content: Buffer;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new PeerError('key', `${path} is not a regular file`, { file: path });
      if ((st.mode & 0o077) !== 0)
        throw new PeerError(
          'key',
          `${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
          { file: path },
        );
      content = readFileSync(path);
    } catch (error) {
      if (error instanceof PeerError) throw error;
      throw new PeerError(
        'key',
        `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
        { file: path },
        { cause: error },
      );
    }
    return PeerKey.fromSecret(content, path);
  }

  /** From the secret itself (tests, the simulator). */
  static fromSecret(secret: Uint8Array, source = 'the key'): PeerKey {
    let end = secret.length;
    if (end > 0 && secret[end - 1] === 0x0a) end -= 1;
    if (end > 0 && secret[end - 1] === 0x0d) end -= 1;
    if (end < MIN_PEER_KEY_BYTES)
      throw new PeerError(
        'key',
        `${source} holds ${end} bytes; at least ${MIN_PEER_KEY_BYTES} are needed (e.g. head -c 32 /dev/urandom | base64)`,
      );
    return new PeerKey(createHmac('sha256', secret.subarray(0, end)).update('hotspare peer hmac v1').digest());
  }

  /**
   * The derived key, for the lease worker thread only (worker_threads: same process, same
   * memory protection). Never logged; the worker rebuilds a PeerKey with `fromDerived`.
   */
  derivedForWorker(): Uint8Array {
    return new Uint8Array(this.#key);
  }

  /** A key from the bytes `derivedForWorker` gave; those bytes are zeroed once copied. */
  static fromDerived(key: Uint8Array): PeerKey {
    if (key.length !== 32) throw new PeerError('key', 'a derived key must be 32 bytes');
    const copy = new PeerKey(Buffer.from(key));
    key.fill(0);
    return copy;
  }

  /** HMAC-SHA256 of `data` under the derived key. */
  tag(data: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(data).digest();
  }

  /** Whether `tag` authenticates `data`, compared in constant time. */
  verify(data: Uint8Array, tag: Uint8Array): boolean {
    if (tag.length !== TAG_BYTES) return false;
    return timingSafeEqual(this.tag(data), tag);
  }

  toJSON(): string {
    return '[peer key]';
  }
}
