/**
 * Builds a manifest by walking the replicated roots (the driver side of manifest handling).
 * Symlinks are never followed below a root; a symlink that would lead out of its root,
 * special files and names that are not UTF-8 are skipped and reported, never listed.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { SyncError } from '../../../hal/errors/index.js';
import { pathProblem, symlinkTargetProblem } from '../wire/confine.js';
import type { HashCache } from './hash-cache.js';
import { code, describe } from './fs-errors.js';
import { hashFile } from './hash-file.js';
import { ConfinedTree } from './local-guard.js';
import { isTempName } from '../wire/temp-name.js';
import { mapLimit } from './map-limit.js';
import type { FileEntry, Manifest, ManifestEntry, RootKind, RootMeta, SkippedPath } from '../wire/types.js';

/** More entries than this is refused on both sides (memory is proportional to it). */
export const MAX_ENTRIES = 1_000_000;
/** Names of one directory described at once. */
const PARALLEL = 16;

export interface ResolvedRoot {
  /** As configured in sync.paths. */
  configured: string;
  kind: RootKind;
  /** The root with symlinks resolved (the root itself may be a symlink); null when absent. */
  real: string | null;
}

export interface WalkOptions {
  cache: HashCache;
  /**
   * Monitor side: delete leftover temporary files of interrupted writes, and list symlinks
   * whatever they point to (a local symlink pointing out must be seen to be replaced).
   */
  removeTemps: boolean;
  onSkip?: (skipped: SkippedPath) => void;
}

export interface WalkResult extends Manifest {
  rootMeta: Array<RootMeta | null>;
  resolved: ResolvedRoot[];
  /** Leftover temporary files removed. */
  tempsRemoved: number;
  /** Files whose content was read (not found in the hash cache). */
  hashed: number;
}

/** Where an entry lives on this server. */
export function localPath(root: ResolvedRoot, path: string): string {
  if (root.real === null) throw new SyncError('roots', `root ${root.configured} is absent`);
  return path === '' ? root.real : `${root.real}/${path}`;
}

export async function resolveRoot(configured: string): Promise<ResolvedRoot> {
  let st;
  try {
    st = await stat(configured);
  } catch (error) {
    if (code(error) === 'ENOENT' || code(error) === 'ENOTDIR') return { configured, kind: 'absent', real: null };
    throw new SyncError(
      'io',
      `cannot read root ${configured}: ${describe(error)}`,
      { path: configured },
      { cause: error },
    );
  }
  const kind: RootKind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'absent';
  return { configured, kind, real: kind === 'absent' ? null : await realpath(configured) };
}

export async function buildManifest(roots: readonly string[], options: WalkOptions): Promise<WalkResult> {
  const resolved = await Promise.all(roots.map(resolveRoot));
  const entries: ManifestEntry[] = [];
  const seen = new Set<string>();
  const startNs = BigInt(Date.now()) * 1_000_000n;
  let tempsRemoved = 0;
  let hashed = 0;
  const skip = (root: number, path: string, reason: string): void => options.onSkip?.({ root, path, reason });

  const fileEntry = async (root: number, path: string, absolute: string, st: BigIntStats): Promise<FileEntry> => {
    seen.add(absolute);
    let sha256 = options.cache.lookup(absolute, st);
    let size = st.size;
    if (sha256 === undefined) {
      const result = await hashFile(absolute);
      hashed += 1;
      sha256 = result.sha256;
      size = BigInt(result.bytes);
      if (result.stable) options.cache.store(absolute, st, sha256, startNs);
    }
    return {
      type: 'file',
      root,
      path,
      size: Number(size),
      mode: Number(st.mode) & 0o777,
      mtimeMs: mtimeMs(st),
      sha256,
      ...owner(st),
    };
  };

  const describeName = async (
    root: number,
    dir: string,
    dirAbsolute: string,
    raw: Buffer,
    name: string,
  ): Promise<ManifestEntry | null> => {
    const path = dir === '' ? name : `${dir}/${name}`;
    if (!Buffer.from(name, 'utf8').equals(raw)) {
      skip(root, path, 'its name is not valid UTF-8');
      return null;
    }
    const absolute = `${dirAbsolute}/${name}`;
    let st: BigIntStats;
    try {
      st = await lstat(absolute, { bigint: true });
    } catch (error) {
      if (code(error) === 'ENOENT') return null;
      throw new SyncError('io', `cannot stat ${absolute}: ${describe(error)}`, { path: absolute }, { cause: error });
    }
    if (isTempName(name)) {
      // Leftover of a write interrupted between write and rename: the final file is intact.
      // Removed through the confined tree: `dirAbsolute` may have been swapped for a symlink.
      if (options.removeTemps && (st.isFile() || st.isSymbolicLink())) {
        const base = resolved[root]?.real;
        if (base !== null && base !== undefined)
          await new ConfinedTree(base)
            .remove(path)
            .then(() => (tempsRemoved += 1))
            .catch(() => undefined);
      }
      return null;
    }
    const problem = pathProblem(path);
    if (problem !== null) {
      skip(root, path, `its path ${problem}`);
      return null;
    }
    if (st.isDirectory()) return { type: 'dir', root, path, mode: Number(st.mode) & 0o777, ...owner(st) };
    if (st.isFile()) {
      try {
        return await fileEntry(root, path, absolute, st);
      } catch (error) {
        if (code(error) === 'ENOENT') return null;
        if (code(error) === 'ELOOP' || code(error) === 'ENOTFILE') {
          skip(root, path, 'it changed type while being read');
          return null;
        }
        throw new SyncError('io', `cannot read ${absolute}: ${describe(error)}`, { path: absolute }, { cause: error });
      }
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await readlink(absolute);
      } catch (error) {
        if (code(error) === 'ENOENT') return null;
        throw new SyncError(
          'io',
          `cannot read the symlink ${absolute}: ${describe(error)}`,
          { path: absolute },
          { cause: error },
        );
      }
      const linkProblem = options.removeTemps ? null : symlinkTargetProblem(path, target);
      if (linkProblem === null) return { type: 'symlink', root, path, target };
      skip(root, path, `the symlink ${linkProblem}`);
      return null;
    }
    skip(root, path, 'it is not a regular file, directory or symlink');
    return null;
  };

  for (const [root, r] of resolved.entries()) {
    if (r.real === null) continue;
    if (r.kind === 'file') {
      try {
        entries.push(await fileEntry(root, '', r.real, await lstat(r.real, { bigint: true })));
      } catch (error) {
        throw new SyncError(
          'io',
          `cannot read root ${r.configured}: ${describe(error)}`,
          { path: r.configured },
          { cause: error },
        );
      }
      continue;
    }
    const stack: string[] = [''];
    while (stack.length > 0) {
      const dir = stack.pop() ?? '';
      const dirAbsolute = dir === '' ? r.real : `${r.real}/${dir}`;
      let names: Buffer[];
      try {
        names = await readdir(dirAbsolute, { encoding: 'buffer' });
      } catch (error) {
        if (code(error) === 'ENOENT' && dir !== '') continue; // removed while walking
        throw new SyncError(
          'io',
          `cannot list ${dirAbsolute}: ${describe(error)}`,
          { path: dirAbsolute },
          { cause: error },
        );
      }
      const sorted = names
        .map((raw) => ({ raw, name: raw.toString('utf8') }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      // Stat and hash a directory's names in parallel (the disk and the thread pool overlap),
      // then list them in name order.
      const described = await mapLimit(sorted, PARALLEL, async ({ raw, name }) =>
        describeName(root, dir, dirAbsolute, raw, name),
      );
      const subdirs: string[] = [];
      for (const entry of described) {
        if (entry === null) continue;
        if (entries.length >= MAX_ENTRIES)
          throw new SyncError(
            'limit',
            `more than ${MAX_ENTRIES} entries under the replicated roots (at root ${root}: ${entry.path})`,
            { root, path: entry.path },
          );
        entries.push(entry);
        if (entry.type === 'dir') subdirs.push(entry.path);
      }
      // Depth-first, in name order: parents are listed before their children.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] ?? '');
    }
  }
  options.cache.retain(seen);
  const rootMeta = await Promise.all(resolved.map(rootMetaOf));
  return { roots: resolved.map((r) => r.kind), rootMeta, entries, resolved, tempsRemoved, hashed };
}

/** Numeric owner of an entry, as the manifest carries it. */
function owner(st: BigIntStats): { uid: number; gid: number } {
  return { uid: Number(st.uid), gid: Number(st.gid) };
}

/** A directory root's own mode and owner; null for a file or absent root. */
async function rootMetaOf(root: ResolvedRoot): Promise<RootMeta | null> {
  if (root.kind !== 'dir' || root.real === null) return null;
  try {
    const st = await lstat(root.real, { bigint: true });
    return { mode: Number(st.mode) & 0o777, ...owner(st) };
  } catch (error) {
    throw new SyncError(
      'io',
      `cannot read root ${root.configured}: ${describe(error)}`,
      { path: root.configured },
      { cause: error },
    );
  }
}

/** Microsecond-precision milliseconds (exact in a double for any realistic date). */
export function mtimeMs(st: BigIntStats): number {
  return Number(st.mtimeNs / 1000n) / 1000;
}

export { code, describe } from './fs-errors.js';
