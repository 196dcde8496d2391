/**
 * Atomic, durable replacement of one file: the content goes to a temporary file in the same
 * directory (`.<name>.hotspare-tmp-XXXXXXXX`, mode 0600 until complete), which is fsynced,
 * given its final mode and mtime, renamed over the final name, and the directory fsynced.
 * Interrupted anywhere before the rename, the final name still holds the old complete file
 * (the temporary file is a leftover the next sync removes); after it, the new complete one.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempNameFor } from './temp-name.js';

/** Points between the steps, for tests that simulate a crash there. */
export type AtomicStep = 'after-write' | 'after-fsync' | 'after-rename';

export interface AtomicHooks {
  /** Called between steps; a throw aborts the write (as a crash would, but cleaned up). */
  step?: (step: AtomicStep, tempPath: string) => void | Promise<void>;
}

export interface FinalMeta {
  /** Permission bits. */
  mode: number;
  mtimeMs: number;
}

export class AtomicFile {
  private handle: FileHandle | null;
  private renamed = false;
  bytesWritten = 0;

  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
    handle: FileHandle,
    private readonly hooks: AtomicHooks,
  ) {
    this.handle = handle;
  }

  /** Creates the temporary file beside `finalPath` (never through a symlink). */
  static async create(finalPath: string, hooks: AtomicHooks = {}): Promise<AtomicFile> {
    const tempPath = join(dirname(finalPath), tempNameFor(basename(finalPath)));
    const handle = await open(
      tempPath,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    return new AtomicFile(finalPath, tempPath, handle, hooks);
  }

  async write(chunk: Buffer): Promise<void> {
    const handle = this.open();
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, null);
      offset += bytesWritten;
    }
    this.bytesWritten += chunk.length;
  }

  /** fsync, mode, mtime, rename; `syncDir: false` leaves the directory fsync to the caller. */
  async commit(meta: FinalMeta, syncDir = true): Promise<void> {
    const handle = this.open();
    try {
      await this.hooks.step?.('after-write', this.tempPath);
      await handle.chmod(meta.mode & 0o777);
      const seconds = meta.mtimeMs / 1000;
      await handle.utimes(seconds, seconds);
      await handle.sync();
      await this.hooks.step?.('after-fsync', this.tempPath);
      await handle.close();
      this.handle = null;
      await rename(this.tempPath, this.finalPath);
      this.renamed = true;
      await this.hooks.step?.('after-rename', this.tempPath);
      if (syncDir) await fsyncDir(dirname(this.finalPath));
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** Drops the temporary file; the final name is untouched. Idempotent. */
  async abort(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    if (!this.renamed) await unlink(this.tempPath).catch(() => undefined);
    this.renamed = true;
  }

  private open(): FileHandle {
    if (this.handle === null) throw new Error(`${this.tempPath} is already closed`);
    return this.handle;
  }
}

/** Writes a whole file atomically from chunks (a Buffer, or a stream of them). */
export async function writeFileAtomic(
  finalPath: string,
  content: Buffer | AsyncIterable<Buffer>,
  meta: FinalMeta,
  hooks: AtomicHooks = {},
  syncDir = true,
): Promise<number> {
  const file = await AtomicFile.create(finalPath, hooks);
  try {
    if (Buffer.isBuffer(content)) await file.write(content);
    else for await (const chunk of content) await file.write(chunk);
  } catch (error) {
    await file.abort();
    throw error;
  }
  await file.commit(meta, syncDir);
  return file.bytesWritten;
}

/** Replaces `finalPath` (whatever it is, unless a directory) by a symlink, atomically. */
export async function replaceWithSymlink(finalPath: string, target: string, syncDir = true): Promise<void> {
  const tempPath = join(dirname(finalPath), tempNameFor(basename(finalPath)));
  await symlink(target, tempPath);
  try {
    await rename(tempPath, finalPath);
  } catch (error) {
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
  if (syncDir) await fsyncDir(dirname(finalPath));
}

/** Makes a directory's entries (renames, creations, removals) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
