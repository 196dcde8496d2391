/**
 * The sync plan, pure: the primary's manifest against the monitor's own. Only what differs
 * travels; what the primary no longer has is deleted here.
 */
import { entryKey } from '../wire/types.js';
import type { DirEntry, FileEntry, ManifestEntry, SymlinkEntry } from '../wire/types.js';

export interface SyncPlan {
  /** Local entries standing where the primary has the other kind (directory vs not); removed first, deepest first. */
  clear: ManifestEntry[];
  /** Directories to create, parents first. */
  mkdirs: DirEntry[];
  /** Files whose content differs or is missing: copied. */
  fetch: FileEntry[];
  /** Symlinks to create or re-point. */
  links: SymlinkEntry[];
  /** Same content, other mode, owner or mtime: metadata only, nothing travels. */
  meta: Array<FileEntry | DirEntry>;
  /** Local entries the primary no longer has, deepest first (deletions propagate). */
  remove: ManifestEntry[];
}

export interface PlanOptions {
  /** Roots to plan; entries of other roots are left alone on both sides. */
  roots: ReadonlySet<number>;
  /** Entries never touched here (e.g. files over max_file_bytes: the old copy stays). */
  keep?: ReadonlySet<string>;
}

/** mtimes closer than this are equal (they cross the wire as decimal milliseconds). */
export const MTIME_TOLERANCE_MS = 1;

export function planSync(
  remote: readonly ManifestEntry[],
  local: readonly ManifestEntry[],
  options: PlanOptions,
): SyncPlan {
  const keep = options.keep ?? new Set<string>();
  const inScope = (e: ManifestEntry): boolean => options.roots.has(e.root) && !keep.has(entryKey(e));
  const localByKey = new Map(local.filter(inScope).map((e) => [entryKey(e), e]));
  const remoteByKey = new Map(remote.filter(inScope).map((e) => [entryKey(e), e]));
  const plan: SyncPlan = { clear: [], mkdirs: [], fetch: [], links: [], meta: [], remove: [] };
  const clearedDirs: ManifestEntry[] = [];

  for (const [key, r] of remoteByKey) {
    let l = localByKey.get(key);
    if (l !== undefined && (l.type === 'dir') !== (r.type === 'dir')) {
      // Rule: a directory and a non-directory cannot replace each other by rename; clear first.
      plan.clear.push(l);
      if (l.type === 'dir') clearedDirs.push(l);
      l = undefined;
    }
    switch (r.type) {
      case 'dir':
        if (l === undefined) plan.mkdirs.push(r);
        else if (l.type === 'dir' && (l.mode !== r.mode || !sameOwner(l, r))) plan.meta.push(r);
        break;
      case 'file':
        if (l === undefined || l.type !== 'file' || l.size !== r.size || l.sha256 !== r.sha256) plan.fetch.push(r);
        else if (l.mode !== r.mode || !sameOwner(l, r) || Math.abs(l.mtimeMs - r.mtimeMs) >= MTIME_TOLERANCE_MS)
          plan.meta.push(r);
        break;
      case 'symlink':
        if (l === undefined || l.type !== 'symlink' || l.target !== r.target) plan.links.push(r);
        break;
    }
  }
  for (const [key, l] of localByKey) {
    if (remoteByKey.has(key)) continue;
    // What lies under a cleared directory goes with it.
    if (clearedDirs.some((d) => d.root === l.root && l.path.startsWith(`${d.path}/`))) plan.clear.push(l);
    else plan.remove.push(l);
  }
  plan.clear.sort(deepestFirst);
  plan.remove.sort(deepestFirst);
  plan.mkdirs.sort((a, b) => -deepestFirst(a, b));
  return plan;
}

/** Owners match, or the primary sent none (an older primary: owners are left alone). */
function sameOwner(local: FileEntry | DirEntry, remote: FileEntry | DirEntry): boolean {
  if (remote.uid === undefined || remote.gid === undefined) return true;
  return local.uid === remote.uid && local.gid === remote.gid;
}

function depth(entry: ManifestEntry): number {
  return entry.path === '' ? 0 : entry.path.split('/').length;
}

function deepestFirst(a: ManifestEntry, b: ManifestEntry): number {
  return depth(b) - depth(a) || a.root - b.root || (a.path < b.path ? 1 : a.path > b.path ? -1 : 0);
}
