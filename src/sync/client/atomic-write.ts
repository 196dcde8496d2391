/**
 * Atomic, durable replacement of one file: the content goes to a temporary file in the same
 * directory (`.<name>.hotspare-tmp-XXXXXXXX`, mode 0600 until complete), which is fsynced,
 * given its final owner, mode and mtime, renamed over the final name, and the directory
 * fsynced. Interrupted anywhere before the rename, the final name still holds the old
 * complete file (the temporary file is a leftover the next sync removes); after it, the new
 * complete one.
 *
 * The directory is held open from the creation of the temporary file to the rename, and
 * both names are reached through that descriptor (local-guard.ts): the temporary file is
 * created O_EXCL | O_NOFOLLOW and the rename replaces whatever stands at the final name (a
 * symlink included) without following it, even if the directory's path is swapped meanwhile.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { applyMeta, at } from '../files/local-guard.js';
import type { ConfinedTree, EntryMeta } from '../files/local-guard.js';
import { tempNameFor } from '../wire/temp-name.js';

/** Points between the steps, for tests that simulate a crash there. */
export type AtomicStep = 'after-write' | 'after-fsync' | 'after-rename';

export interface AtomicHooks {
  /** Called between steps; a throw aborts the write (as a crash would, but cleaned up). */
  step?: (step: AtomicStep, tempPath: string) => void | Promise<void>;
}

/** Permission bits, mtime and (when given) the numeric owner of the final file. */
export interface FinalMeta extends EntryMeta {
  mtimeMs: number;
}

/** Where a file goes: its directory, held open, and its name there. */
interface Place {
  dir: FileHandle;
  name: string;
  /** The final path, for messages and hooks. */
  shown: string;
  /** Turns a failure into one that names the final path (confined trees). */
  explain?: (error: unknown) => unknown;
}

export class AtomicFile {
  private handle: FileHandle | null;
  private renamed = false;
  private dirClosed = false;
  bytesWritten = 0;

  private constructor(
    private readonly place: Place,
    private readonly tempName: string,
    handle: FileHandle,
    private readonly hooks: AtomicHooks,
  ) {
    this.handle = handle;
  }

  get finalPath(): string {
    return this.place.shown;
  }

  /** The temporary file's path, for messages and hooks. */
  get tempPath(): string {
    return join(dirname(this.place.shown), this.tempName);
  }

  /** Creates the temporary file beside `finalPath` (a plain path: tests and trusted callers). */
  static async create(finalPath: string, hooks: AtomicHooks = {}): Promise<AtomicFile> {
    const dir = await open(dirname(finalPath), constants.O_RDONLY | constants.O_DIRECTORY);
    return AtomicFile.createIn({ dir, name: basename(finalPath), shown: finalPath }, hooks);
  }

  /** Creates the temporary file beside `path` of a confined tree, never through a symlink. */
  static async createConfined(tree: ConfinedTree, path: string, hooks: AtomicHooks = {}): Promise<AtomicFile> {
    const slash = path.lastIndexOf('/');
    const dir = await tree.openDir(slash < 0 ? '' : path.slice(0, slash));
    const place = {
      dir,
      name: slash < 0 ? path : path.slice(slash + 1),
      shown: tree.show(path),
      explain: (error: unknown) => tree.explain(error, path),
    };
    return AtomicFile.createIn(place, hooks).catch((error: unknown) => {
      throw tree.explain(error, path);
    });
  }

  /** Takes ownership of `place.dir`: it is closed by commit or abort. */
  private static async createIn(place: Place, hooks: AtomicHooks): Promise<AtomicFile> {
    const tempName = tempNameFor(place.name);
    try {
      const handle = await open(
        at(place.dir, tempName),
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      return new AtomicFile(place, tempName, handle, hooks);
    } catch (error) {
      await place.dir.close();
      throw error;
    }
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

  /** fsync, owner, mode, mtime, rename; `syncDir: false` leaves the directory fsync to the caller. */
  async commit(meta: FinalMeta, syncDir = true): Promise<void> {
    const handle = this.open();
    try {
      await this.hooks.step?.('after-write', this.tempPath);
      await applyMeta(handle, meta);
      await handle.sync();
      await this.hooks.step?.('after-fsync', this.tempPath);
      await handle.close();
      this.handle = null;
      await rename(at(this.place.dir, this.tempName), at(this.place.dir, this.place.name));
      this.renamed = true;
      await this.hooks.step?.('after-rename', this.tempPath);
      if (syncDir) await this.place.dir.sync();
    } catch (error) {
      await this.abort();
      throw this.place.explain?.(error) ?? error;
    } finally {
      await this.closeDir();
    }
  }

  /** Drops the temporary file; the final name is untouched. Idempotent. */
  async abort(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    if (!this.renamed && !this.dirClosed) await unlink(at(this.place.dir, this.tempName)).catch(() => undefined);
    this.renamed = true;
    await this.closeDir();
  }

  private async closeDir(): Promise<void> {
    if (this.dirClosed) return;
    this.dirClosed = true;
    await this.place.dir.close().catch(() => undefined);
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
  return fill(await AtomicFile.create(finalPath, hooks), content, meta, syncDir);
}

/** writeFileAtomic for `path` of a confined tree. */
export async function writeConfinedAtomic(
  tree: ConfinedTree,
  path: string,
  content: Buffer | AsyncIterable<Buffer>,
  meta: FinalMeta,
  hooks: AtomicHooks = {},
): Promise<number> {
  return fill(await AtomicFile.createConfined(tree, path, hooks), content, meta, false);
}

async function fill(
  file: AtomicFile,
  content: Buffer | AsyncIterable<Buffer>,
  meta: FinalMeta,
  syncDir: boolean,
): Promise<number> {
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
  const dir = await open(dirname(finalPath), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await symlinkIn(dir, basename(finalPath), target);
    if (syncDir) await dir.sync();
  } finally {
    await dir.close();
  }
}

/** replaceWithSymlink for `path` of a confined tree (the directory fsync is the caller's). */
export async function replaceWithSymlinkConfined(tree: ConfinedTree, path: string, target: string): Promise<void> {
  await tree.inParent(path, (dir, name) => symlinkIn(dir, name, target));
}

async function symlinkIn(dir: FileHandle, name: string, target: string): Promise<void> {
  const tempName = tempNameFor(name);
  await symlink(target, at(dir, tempName));
  try {
    await rename(at(dir, tempName), at(dir, name));
  } catch (error) {
    await unlink(at(dir, tempName)).catch(() => undefined);
    throw error;
  }
}

/** Makes a directory's entries (renames, creations, removals) durable (a plain path: trusted callers). */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
