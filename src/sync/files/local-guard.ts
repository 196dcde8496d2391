/**
 * Confined file operations under one replicated root on the monitor. The agent runs as root
 * and another local process may rename, replace or swap anything inside the root while a
 * pull runs, so no operation may resolve a path that could lead out of it.
 *
 * Node has no openat(2); `/proc/self/fd/N/name` is its equivalent: the kernel resolves `N`
 * (an open directory) to that directory itself, whatever has since happened to the path it
 * was opened by, and then looks up `name` inside it. Every directory between the root and an
 * entry is opened that way, one component at a time, with O_DIRECTORY | O_NOFOLLOW: a
 * component that is (or has just become) a symlink fails with ELOOP or ENOTDIR instead of
 * being followed. Every create, rename, unlink, mkdir and rmdir then names its last
 * component relative to the held parent directory; those calls never follow a final
 * symlink. chmod, chown and utimes are done on a descriptor opened with O_NOFOLLOW
 * (fchmod/fchown/futimes), never on a path.
 *
 * Remaining window: a directory this code holds open can be renamed by someone who may write
 * both its parent inside the root and a directory outside it; operations then land in that
 * directory, now outside the root, which that process controls anyway. Nothing reached only
 * through a symlink is ever touched. The root's own path (sync.paths, resolved once per
 * pull) is trusted configuration: whoever may replace the root itself is not defended against.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open, readdir, rmdir, unlink } from 'node:fs/promises';
import { SyncError } from '../../../hal/errors/index.js';
import { code, describe } from './fs-errors.js';

/** A directory opened without following a symlink at its last component. */
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/**
 * An entry opened for fchmod/fchown/futimes: no symlink, and neither blocking (a FIFO swapped
 * in) nor taking a controlling terminal.
 */
const META_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
/** Attempts at removing an entry that keeps changing kind or gaining entries while it is removed. */
const REMOVE_ATTEMPTS = 3;

/** The path by which `name` inside the open directory `dir` is reached without re-resolving it. */
export function at(dir: FileHandle, name: string): string {
  return `${fdDir(dir)}/${name}`;
}

/** The open directory itself, as a path that does not re-resolve the path it was opened by. */
export function fdDir(dir: FileHandle): string {
  return `/proc/self/fd/${dir.fd}`;
}

/** Owner and permission bits to give an entry; absent owner: left as it is. */
export interface EntryMeta {
  mode: number;
  uid?: number;
  gid?: number;
  /** Files only. */
  mtimeMs?: number;
}

export class ConfinedTree {
  /**
   * `base` is an absolute directory without symlinks (a root's real path, or the parent of a
   * single-file root); all paths given to the methods are relative to it, `/`-separated and
   * already checked by confine.ts (no `..`, no empty component).
   */
  constructor(readonly base: string) {}

  /** Human form of a relative path, for messages. */
  show(path: string): string {
    return path === '' ? this.base : `${this.base}/${path}`;
  }

  /**
   * Opens directory `dir` (`''` = the base) one component at a time, each relative to the
   * previous one and never through a symlink. The caller closes the handle.
   */
  async openDir(dir: string): Promise<FileHandle> {
    return this.openDirRaw(dir).catch((error: unknown) => {
      throw this.explain(error, dir);
    });
  }

  /** openDir, with Node's own errors (ENOENT...) passed through for callers that expect them. */
  private async openDirRaw(dir: string): Promise<FileHandle> {
    let current = await this.openStep(this.base, '');
    if (dir === '') return current;
    let sofar = '';
    for (const name of dir.split('/')) {
      sofar = sofar === '' ? name : `${sofar}/${name}`;
      const parent = current;
      try {
        current = await this.openStep(at(parent, name), sofar);
      } finally {
        await parent.close();
      }
    }
    return current;
  }

  /** Runs `fn` with the parent directory of `path` held open, and the last component's name. */
  async inParent<T>(path: string, fn: (dir: FileHandle, name: string) => Promise<T>): Promise<T> {
    const slash = path.lastIndexOf('/');
    const dir = await this.openDir(slash < 0 ? '' : path.slice(0, slash));
    try {
      return await fn(dir, slash < 0 ? path : path.slice(slash + 1));
    } catch (error) {
      throw this.explain(error, path);
    } finally {
      await dir.close();
    }
  }

  /**
   * A SyncError naming `path` under the base for a failed operation: Node's own message
   * names the `/proc/self/fd/N/…` path, which says nothing to whoever reads the log. Most
   * likely the entry changed (or vanished) while this pull worked on it.
   */
  explain(error: unknown, path: string): unknown {
    if (error instanceof SyncError) return error;
    const shown = this.show(path);
    const reason = code(error) ?? describe(error);
    return new SyncError(
      'io',
      `cannot update ${shown}: ${reason} (it changed or vanished while being synced?)`,
      { path: shown, ...(code(error) === undefined ? {} : { errno: reason }) },
      { cause: error },
    );
  }

  /** Removes whatever stands at `path` (a directory with its content), following nothing. Absent: done. */
  async remove(path: string): Promise<void> {
    await this.inParent(path, (dir, name) => this.removeAt(dir, name, path));
  }

  /**
   * Makes `path` a directory with the given mode and owner; anything else standing there is
   * removed first. The new directory is created 0700 and opened O_NOFOLLOW before its final
   * mode is set, so it is never more open than the primary's.
   */
  async makeDir(path: string, meta: EntryMeta): Promise<void> {
    await this.inParent(path, async (dir, name) => {
      try {
        await mkdir(at(dir, name), { mode: 0o700 });
      } catch (error) {
        if (code(error) !== 'EEXIST') throw error;
        const st = await lstat(at(dir, name));
        if (!st.isDirectory()) {
          await this.removeAt(dir, name, path);
          await mkdir(at(dir, name), { mode: 0o700 });
        }
      }
    });
    await this.setMeta(path, meta, 'dir');
  }

  /** Sets mode, owner (when given) and mtime (files) on the entry itself, through a descriptor. */
  async setMeta(path: string, meta: EntryMeta, kind: 'file' | 'dir'): Promise<void> {
    const handle =
      path === ''
        ? await this.openDir('')
        : await this.inParent(path, (dir, name) =>
            this.openEntry(at(dir, name), path, kind === 'dir' ? META_FLAGS | constants.O_DIRECTORY : META_FLAGS),
          );
    try {
      const st = await handle.stat();
      if (kind === 'file' ? !st.isFile() : !st.isDirectory())
        throw new SyncError('confine', `${this.show(path)} is no longer a ${kind} here; its metadata is not changed`, {
          path: this.show(path),
        });
      await applyMeta(handle, meta);
    } catch (error) {
      throw this.explain(error, path);
    } finally {
      await handle.close();
    }
  }

  /** Makes directory `dir`'s entries durable; a directory removed meanwhile has nothing left to sync. */
  async fsyncDir(dir: string): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await this.openDirRaw(dir);
    } catch (error) {
      if (code(error) === 'ENOENT') return;
      throw this.explain(error, dir);
    }
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private async openStep(path: string, shown: string): Promise<FileHandle> {
    return this.openEntry(path, shown, DIR_FLAGS);
  }

  /** Opens with `flags`; a symlink or non-directory where a directory was expected is a `confine` error. */
  private async openEntry(path: string, shown: string, flags: number): Promise<FileHandle> {
    try {
      return await open(path, flags);
    } catch (error) {
      const c = code(error);
      if (c === 'ELOOP' || c === 'ENOTDIR' || c === 'EMLINK')
        throw new SyncError(
          'confine',
          `${this.show(shown)} is a symlink or not a directory here (${c}); refusing to go through it`,
          { path: this.show(shown) },
          { cause: error },
        );
      if (c === 'ENOENT') throw error;
      throw new SyncError(
        'io',
        `cannot open ${this.show(shown)}: ${describe(error)}`,
        { path: this.show(shown) },
        { cause: error },
      );
    }
  }

  /**
   * Removes `name` in the open directory `dir`; a directory is emptied through its own
   * descriptor first. An entry that keeps changing kind or gaining entries meanwhile is tried
   * again a few times, then reported.
   */
  private async removeAt(dir: FileHandle, name: string, shown: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.removeOnce(dir, name, shown);
        return;
      } catch (error) {
        const c = code(error);
        if (c === 'ENOENT') return;
        const racing = c === 'ENOTEMPTY' || c === 'ELOOP' || c === 'ENOTDIR' || c === 'EISDIR';
        if (!racing || attempt >= REMOVE_ATTEMPTS) throw error;
      }
    }
  }

  private async removeOnce(dir: FileHandle, name: string, shown: string): Promise<void> {
    try {
      await unlink(at(dir, name));
      return;
    } catch (error) {
      // Linux answers EISDIR for a directory (POSIX allows EPERM).
      if (code(error) !== 'EISDIR' && code(error) !== 'EPERM') throw error;
    }
    const sub = await open(at(dir, name), DIR_FLAGS);
    try {
      for (const child of await readdir(fdDir(sub))) await this.removeAt(sub, child, `${shown}/${child}`);
    } finally {
      await sub.close();
    }
    await rmdir(at(dir, name));
  }
}

/** Owner first (chown may clear mode bits), then mode, then mtime. */
export async function applyMeta(handle: FileHandle, meta: EntryMeta): Promise<void> {
  if (meta.uid !== undefined && meta.gid !== undefined) await handle.chown(meta.uid, meta.gid);
  await handle.chmod(meta.mode & 0o777);
  if (meta.mtimeMs !== undefined) {
    const seconds = meta.mtimeMs / 1000;
    await handle.utimes(seconds, seconds);
  }
}
