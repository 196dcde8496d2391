// Breadth-first walk of every interleaving of the lease model (lease-model.ts), states
// deduplicated by key, checking at every state that at most one kernel has the address.
// Breadth first, so a violation found is one with the fewest steps.

import {
  type ModelConfig,
  describeState,
  everHeld,
  holdersOf,
  initialStates,
  parseKey,
  stateKey,
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
    if (index.has(key)) return false;
    index.set(key, keys.length);
    keys.push(key);
    parent.push(from);
    return true;
  };
  let frontier: number[] = [];
  for (const init of initialStates(cfg)) if (add(stateKey(init), -1)) frontier.push(keys.length - 1);
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
        const key = stateKey(step.next);
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
  const trace = (id: number): TraceStep[] => {
    const path: number[] = [];
    for (let at = id; at >= 0; at = parent[at] ?? -1) path.unshift(at);
    const steps: TraceStep[] = [];
    for (let k = 0; k < path.length; k++) {
      const s = parseKey(keys[path[k] ?? 0] ?? '');
      let action = 'start';
      if (k > 0) {
        const before = parseKey(keys[path[k - 1] ?? 0] ?? '');
        const want = keys[path[k] ?? 0];
        action = successors(cfg, before, true).find((st) => stateKey(st.next) === want)?.label ?? '?';
      }
      steps.push({ action, state: describeState(cfg, s) });
    }
    return steps;
  };
  return {
    states: keys.length,
    transitions,
    depth,
    complete: frontier.length === 0 && !truncated,
    ...(violationAt >= 0 ? { violation: trace(violationAt) } : {}),
    ...(takeoverAt >= 0 ? { takeover: trace(takeoverAt) } : {}),
    elapsedMs: Date.now() - started,
  };
}

export function formatTrace(trace: readonly TraceStep[]): string {
  return trace.map((t, k) => `${String(k).padStart(3)} ${t.action}\n    ${t.state}`).join('\n');
}
