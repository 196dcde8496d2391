/**
 * The primary reading one file for the monitor: never through a symlink (O_NOFOLLOW on the
 * file, realpath on its directory), hashed as it is read, and marked unstable when it
 * changed meanwhile. Preparing (open, stat, and for small files the whole read) is separate
 * from sending, so the server can prepare the next files while one is on the wire.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FrameWriter } from '../wire/frames.js';
import { CHUNK_BYTES } from '../files/hash-file.js';
import { code, describe, localPath } from '../files/manifest.js';
import type { ResolvedRoot } from '../files/manifest.js';
import type { ServerMessage } from '../wire/messages.js';

/** Files up to this size are read whole while preparing. */
export const WHOLE_MAX = 64 * 1024;

type End = Extract<ServerMessage, { t: 'end' }>;

export type Prepared =
  | { kind: 'missing'; reason: string }
  | { kind: 'whole'; data: Buffer; end: End }
  | { kind: 'open'; handle: FileHandle; before: BigIntStats };

export async function prepareFile(root: ResolvedRoot, path: string): Promise<Prepared> {
  const absolute = localPath(root, path);
  // Rule: never serve through a directory that became a symlink since the walk.
  if (path !== '' && (await realpath(dirname(absolute)).catch(() => null)) !== dirname(absolute))
    return { kind: 'missing', reason: 'a parent directory changed' };
  let handle: FileHandle;
  try {
    handle = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return {
      kind: 'missing',
      reason:
        code(error) === 'ELOOP'
          ? 'it became a symlink'
          : code(error) === 'ENOENT'
            ? 'it was deleted'
            : `cannot open: ${code(error) ?? describe(error)}`,
    };
  }
  try {
    const before = await handle.stat({ bigint: true });
    if (!before.isFile()) {
      await handle.close();
      return { kind: 'missing', reason: 'it is no longer a regular file' };
    }
    if (before.size > BigInt(WHOLE_MAX)) return { kind: 'open', handle, before };
    const data = Buffer.allocUnsafe(Number(before.size));
    let got = 0;
    while (got < data.length) {
      const { bytesRead } = await handle.read(data, got, data.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const after = await handle.stat({ bigint: true });
    await handle.close();
    const content = data.subarray(0, got);
    return {
      kind: 'whole',
      data: content,
      end: endOf(before, after, got, createHash('sha256').update(content).digest('hex')),
    };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** Sends a prepared file; returns the bytes sent, or null when it was missing. Closes what it opened. */
export async function sendPrepared(
  writer: FrameWriter,
  prepared: Prepared,
  root: number,
  path: string,
): Promise<number | null> {
  if (prepared.kind === 'missing') {
    await writer.header({ t: 'missing', root, path, reason: prepared.reason });
    return null;
  }
  if (prepared.kind === 'whole') {
    // One write for the three frames of a small file.
    await writer.frames([
      { header: { t: 'file', root, path } },
      ...(prepared.data.length > 0 ? [{ data: prepared.data }] : []),
      { header: prepared.end },
    ]);
    return prepared.data.length;
  }
  const { handle, before } = prepared;
  try {
    await writer.header({ t: 'file', root, path });
    const hash = createHash('sha256');
    const limit = Number(before.size);
    let sent = 0;
    while (sent < limit) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, limit - sent));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      const piece = chunk.subarray(0, bytesRead);
      hash.update(piece);
      await writer.data(piece);
      sent += bytesRead;
    }
    const after = await handle.stat({ bigint: true });
    await writer.header(endOf(before, after, sent, hash.digest('hex')));
    return sent;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Closes what a prepared file holds, when it will not be sent. */
export async function releasePrepared(prepared: Prepared): Promise<void> {
  if (prepared.kind === 'open') await prepared.handle.close().catch(() => undefined);
}

/** Rule: a file that changed while it was read may be torn; `stable: false` makes the monitor keep its old copy. */
function endOf(before: BigIntStats, after: BigIntStats, bytes: number, sha256: string): End {
  const stable =
    before.size === after.size &&
    before.mtimeNs === after.mtimeNs &&
    before.ctimeNs === after.ctimeNs &&
    BigInt(bytes) === after.size;
  return {
    t: 'end',
    size: bytes,
    sha256,
    mode: Number(before.mode) & 0o777,
    mtimeMs: Number(before.mtimeNs / 1000n) / 1000,
    stable,
  };
}
