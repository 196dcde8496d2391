/**
 * The monitor never writes through a symlink: before an entry is written, every directory
 * between its root and it must be a real directory (lstat, not a symlink to elsewhere).
 * The final component is replaced by rename, which replaces a symlink, never its target.
 */
import { lstat } from 'node:fs/promises';
import { SyncError } from '../../hal/errors/index.js';
import { parentOf } from './confine.js';

export class ParentGuard {
  /** Directories already checked in this sync. */
  private readonly checked = new Set<string>();

  constructor(private readonly rootReal: string) {}

  async assertPlainParents(path: string): Promise<void> {
    const parent = parentOf(path);
    if (parent === '' || this.checked.has(parent)) return;
    let sofar = '';
    for (const name of parent.split('/')) {
      sofar = sofar === '' ? name : `${sofar}/${name}`;
      if (this.checked.has(sofar)) continue;
      const absolute = `${this.rootReal}/${sofar}`;
      let st;
      try {
        st = await lstat(absolute);
      } catch (error) {
        throw new SyncError(
          'io',
          `cannot check ${absolute}: ${error instanceof Error ? error.message : String(error)}`,
          { path: absolute },
          { cause: error },
        );
      }
      if (st.isSymbolicLink())
        throw new SyncError('confine', `${absolute} is a symlink here; refusing to write ${path} through it`, {
          path: absolute,
        });
      if (!st.isDirectory())
        throw new SyncError('confine', `${absolute} is not a directory here; refusing to write ${path} under it`, {
          path: absolute,
        });
      this.checked.add(sofar);
    }
  }

  /** A directory was removed or replaced: check it again next time. */
  forget(path: string): void {
    for (const dir of this.checked) if (dir === path || dir.startsWith(`${path}/`)) this.checked.delete(dir);
  }
}
