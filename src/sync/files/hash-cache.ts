import type { BigIntStats } from 'node:fs';

/**
 * Content hashes keyed by path and (size, mtime, ctime, inode), so unchanged files are not
 * hashed again each sync. Like git's "racily clean" rule, a file whose ctime (which every
 * write moves, and utimes cannot set back) is within RACY_NS of the moment it was hashed is
 * not cached: a write in the same clock tick would not change its stat, so it is hashed
 * again next time.
 */
export const RACY_NS = 1_000_000_000n;

interface Cached {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  sha256: string;
}

export class HashCache {
  private readonly byPath = new Map<string, Cached>();

  /** `racyNs`: tests may shorten it. */
  constructor(private readonly racyNs = RACY_NS) {}

  lookup(path: string, st: BigIntStats): string | undefined {
    const hit = this.byPath.get(path);
    if (hit === undefined) return undefined;
    if (hit.size !== st.size || hit.mtimeNs !== st.mtimeNs || hit.ctimeNs !== st.ctimeNs || hit.ino !== st.ino)
      return undefined;
    return hit.sha256;
  }

  /** `hashedAtNs`: wall-clock ns when hashing began. */
  store(path: string, st: BigIntStats, sha256: string, hashedAtNs: bigint): void {
    if (hashedAtNs - st.ctimeNs < this.racyNs) {
      this.byPath.delete(path);
      return;
    }
    this.byPath.set(path, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, sha256 });
  }

  /** Forgets every path not in `seen` (bounded by what exists). */
  retain(seen: ReadonlySet<string>): void {
    for (const path of this.byPath.keys()) if (!seen.has(path)) this.byPath.delete(path);
  }

  get size(): number {
    return this.byPath.size;
  }
}
