import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Read size for hashing and serving: memory per open file stays at this. */
export const CHUNK_BYTES = 256 * 1024;

export interface HashResult {
  sha256: string;
  bytes: number;
  /** Size, mtime and ctime were the same before and after: the hash is of one version. */
  stable: boolean;
}

/** SHA-256 of a regular file, streamed; never follows a symlink in the last component. */
export async function hashFile(path: string): Promise<HashResult> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const before = await handle.stat({ bigint: true });
    if (!before.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTFILE' });
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let bytes = 0;
    // Up to the size seen at open: a file that grew is caught by the second stat.
    const size = Number(before.size);
    while (bytes < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - bytes), null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    const after = await handle.stat({ bigint: true });
    const stable =
      before.size === after.size &&
      before.mtimeNs === after.mtimeNs &&
      before.ctimeNs === after.ctimeNs &&
      BigInt(bytes) === after.size;
    return { sha256: hash.digest('hex'), bytes, stable };
  } finally {
    await handle.close();
  }
}
