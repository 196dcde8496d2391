// Breadth-first walk of every interleaving of the lease model (lease-model.ts), states
// deduplicated by key, checking at every state that at most one kernel has the address.
// Breadth first, so a violation found is one with the fewest steps.

import {
  type ModelConfig,
  canonicalKey,
  describeState,
  everHeld,
  holdersOf,
  initialStates,
  parseKey,
  successors,
} from './lease-model.js';

export interface TraceStep {
  readonly action: string;
  readonly state: string;
}

export interface ExploreResult {
  // distinct states reached (the initial one included)
  readonly states: number;
  readonly transitions: number;
  // BFS depth reached: every state within this many actions of the start was explored
  readonly depth: number;
  // true when no new state appeared before the depth bound: the whole bounded space was seen
  readonly complete: boolean;
  // true when maxStates stopped the walk inside level `depth` (that level is partly explored)
  readonly truncated: boolean;
  // shortest path to a state where two kernels have the address, if any
  readonly violation?: readonly TraceStep[];
  // some state where a member has the address after another member had it (non-vacuity)
  readonly takeover?: readonly TraceStep[];
  readonly elapsedMs: number;
}

export interface ExploreLimits {
  readonly maxDepth: number;
  // stop (complete = false) beyond this many states, to bound memory
  readonly maxStates: number;
  // stop at the first violation (mutation tests) instead of finishing the level
  readonly stopAtViolation: boolean;
}

export function explore(cfg: ModelConfig, limits: ExploreLimits): ExploreResult {
  const started = Date.now();
  const index = new Map<string, number>();
  const keys: string[] = [];
  const parent: number[] = [];
  const add = (key: string, from: number): boolean => {
    const size = index.size;
    index.set(key, index.get(key) ?? size);
    if (index.size === size) return false;
    keys.push(key);
    parent.push(from);
    return true;
  };
  let frontier: number[] = [];
  const inits = initialStates(cfg);
  for (const init of inits) if (add(canonicalKey(cfg, init), -1)) frontier.push(keys.length - 1);
  let depth = 0;
  let transitions = 0;
  let violationAt = -1;
  let takeoverAt = -1;
  let truncated = false;
  while (frontier.length > 0 && depth < limits.maxDepth && !truncated) {
    const next: number[] = [];
    for (const id of frontier) {
      const s = parseKey(keys[id] ?? '');
      for (const step of successors(cfg, s)) {
        transitions++;
        const key = canonicalKey(cfg, step.next);
        if (!add(key, id)) continue;
        const nid = keys.length - 1;
        next.push(nid);
        const held = holdersOf(cfg, step.next);
        if (held.length > 1 && violationAt < 0) violationAt = nid;
        if (takeoverAt < 0 && held.length === 1 && (everHeld(cfg, step.next) & ~(1 << (held[0] ?? 0))) !== 0) {
          takeoverAt = nid;
        }
        if (keys.length >= limits.maxStates) truncated = true;
      }
      if (truncated || (violationAt >= 0 && limits.stopAtViolation)) break;
    }
    depth++;
    frontier = next;
    if (violationAt >= 0 && limits.stopAtViolation) break;
  }
  // Replays the path from a real initial state, so that member names stay the same along
  // the trace (the stored states are canonical, possibly with members renamed).
  const trace = (id: number): TraceStep[] => {
    const path: string[] = [];
    for (let at = id; at >= 0; at = parent[at] ?? -1) path.unshift(keys[at] ?? '');
    let s = inits.find((init) => canonicalKey(cfg, init) === path[0]) ?? parseKey(path[0] ?? '');
    const steps: TraceStep[] = [{ action: 'start', state: describeState(cfg, s) }];
    for (const want of path.slice(1)) {
      const step = successors(cfg, s, true).find((st) => canonicalKey(cfg, st.next) === want);
      if (!step) throw new Error('trace replay failed');
      s = step.next;
      steps.push({ action: step.label, state: describeState(cfg, s) });
    }
    return steps;
  };
  return {
    states: keys.length,
    transitions,
    depth,
    complete: frontier.length === 0 && !truncated,
    truncated,
    ...(violationAt >= 0 ? { violation: trace(violationAt) } : {}),
    ...(takeoverAt >= 0 ? { takeover: trace(takeoverAt) } : {}),
    elapsedMs: Date.now() - started,
  };
}

export function formatTrace(trace: readonly TraceStep[]): string {
  return trace.map((t, k) => `${String(k).padStart(3)} ${t.action}\n    ${t.state}`).join('\n');
}
