/**
 * Builds a manifest by walking the replicated roots (the driver side of manifest handling).
 * Symlinks are never followed below a root; a symlink that would lead out of its root,
 * special files and names that are not UTF-8 are skipped and reported, never listed.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat, unlink } from 'node:fs/promises';
import { SyncError } from '../errors/index.js';
import { pathProblem, symlinkTargetProblem } from './confine.js';
import type { HashCache } from './hash-cache.js';
import { hashFile } from './hash-file.js';
import { isTempName } from './temp-name.js';
import type { Manifest, ManifestEntry, RootKind, SkippedPath } from './types.js';

/** More entries than this is refused on both sides (memory is proportional to it). */
export const MAX_ENTRIES = 1_000_000;

export interface ResolvedRoot {
  /** As configured in sync.paths. */
  configured: string;
  kind: RootKind;
  /** The root with symlinks resolved (the root itself may be a symlink); null when absent. */
  real: string | null;
}

export interface WalkOptions {
  cache: HashCache;
  /** Monitor side: delete leftover temporary files of interrupted writes. */
  removeTemps: boolean;
  onSkip?: (skipped: SkippedPath) => void;
}

export interface WalkResult extends Manifest {
  resolved: ResolvedRoot[];
  /** Leftover temporary files removed. */
  tempsRemoved: number;
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
    throw new SyncError('io', `cannot read root ${configured}: ${describe(error)}`, { path: configured }, { cause: error });
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
  const skip = (root: number, path: string, reason: string): void => options.onSkip?.({ root, path, reason });

  const fileEntry = async (root: number, path: string, absolute: string, st: BigIntStats): Promise<void> => {
    seen.add(absolute);
    let sha256 = options.cache.lookup(absolute, st);
    let size = st.size;
    if (sha256 === undefined) {
      const hashed = await hashFile(absolute);
      sha256 = hashed.sha256;
      size = BigInt(hashed.bytes);
      if (hashed.stable) options.cache.store(absolute, st, sha256, startNs);
    }
    entries.push({ type: 'file', root, path, size: Number(size), mode: Number(st.mode) & 0o777, mtimeMs: mtimeMs(st), sha256 });
  };

  for (const [root, r] of resolved.entries()) {
    if (r.real === null) continue;
    if (r.kind === 'file') {
      const st = await lstat(r.real, { bigint: true });
      await fileEntry(root, '', r.real, st);
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
        throw new SyncError('io', `cannot list ${dirAbsolute}: ${describe(error)}`, { path: dirAbsolute }, { cause: error });
      }
      const sorted = names.map((raw) => ({ raw, name: raw.toString('utf8') })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const subdirs: string[] = [];
      for (const { raw, name } of sorted) {
        const path = dir === '' ? name : `${dir}/${name}`;
        if (!Buffer.from(name, 'utf8').equals(raw)) {
          skip(root, path, 'its name is not valid UTF-8');
          continue;
        }
        const absolute = `${dirAbsolute}/${name}`;
        let st: BigIntStats;
        try {
          st = await lstat(absolute, { bigint: true });
        } catch (error) {
          if (code(error) === 'ENOENT') continue;
          throw new SyncError('io', `cannot stat ${absolute}: ${describe(error)}`, { path: absolute }, { cause: error });
        }
        if (isTempName(name)) {
          // Leftover of a write interrupted between write and rename: the final file is intact.
          if (options.removeTemps && (st.isFile() || st.isSymbolicLink())) {
            await unlink(absolute).catch(() => undefined);
            tempsRemoved += 1;
          }
          continue;
        }
        const problem = pathProblem(path);
        if (problem !== null) {
          skip(root, path, `its path ${problem}`);
          continue;
        }
        if (entries.length >= MAX_ENTRIES) throw new SyncError('limit', `more than ${MAX_ENTRIES} entries under the replicated roots (at root ${root}: ${path})`, { root, path });
        if (st.isDirectory()) {
          entries.push({ type: 'dir', root, path, mode: Number(st.mode) & 0o777 });
          subdirs.push(path);
        } else if (st.isFile()) {
          try {
            await fileEntry(root, path, absolute, st);
          } catch (error) {
            if (code(error) === 'ENOENT') continue;
            if (code(error) === 'ELOOP' || code(error) === 'ENOTFILE') {
              skip(root, path, 'it changed type while being read');
              continue;
            }
            throw new SyncError('io', `cannot read ${absolute}: ${describe(error)}`, { path: absolute }, { cause: error });
          }
        } else if (st.isSymbolicLink()) {
          let target: string;
          try {
            target = await readlink(absolute);
          } catch (error) {
            if (code(error) === 'ENOENT') continue;
            throw new SyncError('io', `cannot read the symlink ${absolute}: ${describe(error)}`, { path: absolute }, { cause: error });
          }
          const linkProblem = symlinkTargetProblem(path, target);
          if (linkProblem !== null) skip(root, path, `the symlink ${linkProblem}`);
          else entries.push({ type: 'symlink', root, path, target });
        } else {
          skip(root, path, 'it is not a regular file, directory or symlink');
        }
      }
      // Depth-first, in name order: parents are listed before their children.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] ?? '');
    }
  }
  options.cache.retain(seen);
  return { roots: resolved.map((r) => r.kind), entries, resolved, tempsRemoved };
}

/** Microsecond-precision milliseconds (exact in a double for any realistic date). */
export function mtimeMs(st: BigIntStats): number {
  return Number(st.mtimeNs / 1000n) / 1000;
}

export function code(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value: unknown = Reflect.get(error, 'code');
  return typeof value === 'string' ? value : undefined;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
