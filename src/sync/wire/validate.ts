/**
 * Whole-manifest checks, pure. A manifest that fails any of them is refused entirely before
 * anything is written: a malformed or hostile primary gets nothing changed on the monitor.
 */
import { SyncError } from '../../../hal/errors/index.js';
import { parentOf, pathProblem, symlinkTargetProblem } from './confine.js';
import { describeEntry, entryKey } from './types.js';
import type { Manifest } from './types.js';

/** Throws `SyncError` (`roots`, `confine` or `manifest`) naming the first bad entry. */
export function validateManifest(manifest: Manifest, localRoots: number): void {
  const { roots, entries } = manifest;
  if (roots.length !== localRoots) {
    throw new SyncError(
      'roots',
      `the primary replicates ${roots.length} root(s) and this server ${localRoots}; sync.paths must list the same roots in the same order on every server`,
    );
  }
  const kinds = new Map<string, string>();
  const fileRootSeen = new Set<number>();
  for (const entry of entries) {
    const where = describeEntry(entry);
    const kind = roots[entry.root];
    if (kind === undefined)
      throw new SyncError(
        'manifest',
        `entry ${JSON.stringify(entry.path)} names root ${entry.root}, but there are ${roots.length}`,
        { root: entry.root, path: entry.path },
      );
    if (kind === 'absent')
      throw new SyncError('manifest', `entry ${where}: root ${entry.root} is absent on the primary, yet has entries`, {
        root: entry.root,
        path: entry.path,
      });
    if (kind === 'file') {
      if (entry.path !== '' || entry.type !== 'file')
        throw new SyncError(
          'confine',
          `entry ${where}: root ${entry.root} is a single file; only the file itself may be listed, refused`,
          { root: entry.root, path: entry.path },
        );
      fileRootSeen.add(entry.root);
    } else {
      const problem = pathProblem(entry.path);
      if (problem !== null)
        throw new SyncError(
          'confine',
          `entry ${JSON.stringify(entry.path)} of root ${entry.root} ${problem}; refused`,
          { root: entry.root, path: entry.path },
        );
      if (entry.type === 'symlink') {
        const linkProblem = symlinkTargetProblem(entry.path, entry.target);
        if (linkProblem !== null)
          throw new SyncError('confine', `symlink ${where} ${linkProblem}; refused`, {
            root: entry.root,
            path: entry.path,
          });
      }
    }
    const key = entryKey(entry);
    if (kinds.has(key))
      throw new SyncError('manifest', `entry ${where} is listed twice`, { root: entry.root, path: entry.path });
    kinds.set(key, entry.type);
  }
  for (const entry of entries) {
    const parent = parentOf(entry.path);
    if (parent === '') continue;
    const parentType = kinds.get(entryKey({ root: entry.root, path: parent }));
    if (parentType !== 'dir') {
      throw new SyncError(
        'manifest',
        `entry ${describeEntry(entry)}: its parent ${JSON.stringify(parent)} is ${parentType === undefined ? 'not listed' : `a ${parentType}, not a directory`}`,
        { root: entry.root, path: entry.path },
      );
    }
  }
  roots.forEach((kind, root) => {
    if (kind === 'file' && !fileRootSeen.has(root))
      throw new SyncError('manifest', `root ${root} is a file on the primary but the manifest does not describe it`, {
        root,
      });
  });
}
