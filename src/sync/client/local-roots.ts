/**
 * The monitor's roots, made ready for what the primary has: a directory root that is missing
 * here is created; a root whose kind differs, or that the primary lacks, is left alone and
 * reported (never emptied: an unmounted filesystem on the primary must not wipe the copy).
 */
import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { SyncError } from '../../../hal/errors/index.js';
import { code, describe, resolveRoot } from '../files/manifest.js';
import type { ResolvedRoot } from '../files/manifest.js';
import type { RootKind } from '../wire/types.js';

export interface PreparedRoot {
  resolved: ResolvedRoot;
  /** Why this root is not synced this time, or null. */
  problem: string | null;
  /** Missing here: `create` makes it before anything is written under it. */
  missing: boolean;
}

/** Looks only; writes nothing. */
export async function inspectLocalRoot(index: number, configured: string, remote: RootKind): Promise<PreparedRoot> {
  const local = await resolveRoot(configured);
  if (remote === 'absent')
    return {
      resolved: local,
      problem: `root ${index} is absent on the primary; the copy at ${configured} is kept as it is`,
      missing: false,
    };
  if (local.kind === 'absent') return { resolved: local, problem: null, missing: true };
  if (local.kind !== remote)
    return {
      resolved: local,
      problem: `root ${index} is a ${remote} on the primary but ${configured} is a ${local.kind} here; not synced`,
      missing: false,
    };
  return { resolved: local, problem: null, missing: false };
}

/** Creates a missing root: the directory itself, or the parent of a single-file root. */
export async function createLocalRoot(index: number, configured: string, remote: RootKind): Promise<PreparedRoot> {
  try {
    if (remote === 'dir') {
      await mkdir(dirname(configured), { recursive: true, mode: 0o755 });
      // The root itself 0700 until the primary's mode is applied (for good, from a primary that sends none).
      await mkdir(configured, { mode: 0o700 }).catch((error: unknown) => {
        if (code(error) !== 'EEXIST') throw error;
      });
      return { resolved: await resolveRoot(configured), problem: null, missing: false };
    }
    await mkdir(dirname(configured), { recursive: true, mode: 0o755 });
    return {
      resolved: { configured, kind: 'file', real: `${await realpath(dirname(configured))}/${basename(configured)}` },
      problem: null,
      missing: false,
    };
  } catch (error) {
    throw new SyncError(
      'io',
      `cannot create root ${index} at ${configured}: ${describe(error)}`,
      { path: configured },
      { cause: error },
    );
  }
}
