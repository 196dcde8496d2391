/**
 * Deletions the monitor does not trust, pure. A server that took over before it ever
 * completed a sync serves an empty or partial copy; the old primary, pulling from it, would
 * delete its own complete copy to match. So what a pull would delete in a root is moved
 * aside (`<state_dir>/sync-aside/<time>/root-<i>/<path>`) instead, when:
 *   - the primary says its copy is `incomplete` (copy-state.ts), or
 *   - the pull would delete more than half of what this root holds here because the primary
 *     lacks it (its tree is empty or much smaller: an older primary, or one that never tried
 *     to pull, sends no state). Entries replaced by another kind (a directory where the
 *     primary has a file) do not count: the primary has something there.
 */
import { parentOf } from '../wire/confine.js';
import type { SyncPlan } from './diff.js';
import { entryKey } from '../wire/types.js';
import type { CopyState, ManifestEntry } from '../wire/types.js';

/** Per root, why its deletions are moved aside (roots absent from the map: deleted as usual). */
export function rootsToSetAside(
  copy: CopyState | undefined,
  plan: Pick<SyncPlan, 'clear' | 'remove'>,
  local: readonly ManifestEntry[],
  scope: ReadonlySet<number>,
): Map<number, string> {
  const removals = countByRoot([...plan.clear, ...plan.remove]);
  const missing = countByRoot(plan.remove);
  const held = countByRoot(local.filter((e) => scope.has(e.root)));
  const reasons = new Map<number, string>();
  for (const root of removals.keys()) {
    const here = held.get(root) ?? 0;
    const removing = missing.get(root) ?? 0;
    if (copy === 'incomplete')
      reasons.set(root, 'the primary has never completed a sync: its copy may be empty or partial');
    else if (here > 0 && removing * 2 > here)
      reasons.set(root, `the primary's copy would delete ${removing} of the ${here} entries here`);
  }
  return reasons;
}

/**
 * The entries to move: those of the given roots whose parent is not itself moved (a
 * directory moves with everything under it), in the plan's order.
 */
export function topmost(entries: readonly ManifestEntry[], roots: ReadonlySet<number>): ManifestEntry[] {
  const moving = new Set(entries.filter((e) => roots.has(e.root)).map(entryKey));
  return entries.filter((e) => {
    if (!roots.has(e.root)) return false;
    for (let parent = parentOf(e.path); parent !== ''; parent = parentOf(parent))
      if (moving.has(entryKey({ root: e.root, path: parent }))) return false;
    return true;
  });
}

function countByRoot(entries: readonly ManifestEntry[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const e of entries) counts.set(e.root, (counts.get(e.root) ?? 0) + 1);
  return counts;
}
