// Exhaustive (bounded) model check of the lease, epoch and release rules (issue 11 item 7):
// every interleaving of the model in lease-model.ts within the bounds below, for 2 members
// + a witness and for 3 members, and mutations of the rules that the checker must catch.
// MODEL_DEPTH=n adds larger runs (3 members to the fixpoint, restarts and releases with
// time to depth n, 2 in flight); they take minutes.

import { strict as assert } from 'node:assert';
import { type ExploreLimits, type ExploreResult, explore, formatTrace } from './explore.js';
import type { ModelConfig } from './lease-model.js';

// L = 1 local tick, D = 2 real ticks, clocks advance 1 or 2 per real tick (rho = 1).
const L = 1;
const D = 2;
const RHO = 1;
// The spec's rule: Q = L(1 + rho) + D. What the model shows safe: Q = (L + D)(1 + rho).
const SPEC_Q = L * (1 + RHO) + D;
const SAFE_Q = (L + D) * (1 + RHO);

const base: ModelConfig = {
  voters: 3,
  holders: 2,
  lease: L,
  drop: D,
  quiet: SAFE_Q,
  rates: [1, 1 + RHO],
  maxEpoch: 2,
  slots: 1,
  maxInFlight: 1,
  maxRestarts: 0,
  releases: false,
  varyingRates: false,
  startQuiet: false,
  ticks: true,
  mutation: 'none',
};

const full: ExploreLimits = { maxDepth: 1000, maxStates: 5_000_000, stopAtViolation: false };
const toViolation: ExploreLimits = { maxDepth: 40, maxStates: 2_000_000, stopAtViolation: true };

const deep = process.env.MODEL_DEPTH ? Number(process.env.MODEL_DEPTH) : undefined;
if (deep !== undefined && !(Number.isInteger(deep) && deep > 0)) {
  throw new Error(`MODEL_DEPTH must be a positive integer, got '${process.env.MODEL_DEPTH}'`);
}

function report(name: string, r: ExploreResult): void {
  const scope = r.complete
    ? 'every reachable state'
    : r.truncated
      ? `stopped at the state limit inside step ${r.depth}`
      : `every state within ${r.depth} steps`;
  console.log(`      ${name}: ${r.states} states, ${r.transitions} transitions, ${scope}, ${r.elapsedMs} ms`);
}

function assertSafe(name: string, cfg: ModelConfig, limits: ExploreLimits, complete: boolean): void {
  const r = explore(cfg, limits);
  report(name, r);
  if (r.violation) assert.fail(`two holders:\n${formatTrace(r.violation)}`);
  assert.equal(
    r.complete,
    complete,
    complete ? 'the bounded space was not explored to its end' : 'expected a depth bound',
  );
  // Not vacuous: a member gets the address after another one had it.
  assert.ok(r.takeover, 'no takeover is reachable: the check would be vacuous');
}

function assertViolation(name: string, cfg: ModelConfig): readonly string[] {
  const r = explore(cfg, toViolation);
  report(name, r);
  assert.ok(r.violation, `${name}: no violation found in ${r.states} states`);
  console.log(
    formatTrace(r.violation)
      .split('\n')
      .map((l) => `        ${l}`)
      .join('\n'),
  );
  return r.violation.map((s) => s.action);
}

describe('model check of the lease rules (all interleavings, bounded)', function () {
  this.timeout(180_000);

  describe(`Q = (L + D)(1 + rho) = ${SAFE_Q}, L = ${L}, D = ${D}, rho = ${RHO}`, () => {
    it('2 members + witness: never two holders, every reachable state (epochs <= 2, 1 message in flight)', () => {
      assertSafe('2+witness, timing', base, full, true);
    });

    it('3 members: never two holders, every state within 14 steps (epochs <= 2, 1 in flight)', () => {
      assertSafe('3 members, timing', { ...base, holders: 3 }, { ...full, maxDepth: 14 }, false);
    });

    it('2 members + witness, releases, time standing still: every reachable state (2 in flight)', () => {
      const cfg: ModelConfig = { ...base, releases: true, ticks: false, rates: [1], maxInFlight: 2 };
      assertSafe('2+witness, releases', cfg, full, true);
    });

    it('2 members + witness, twin lease threads: two requests outstanding per member (one per twin), the later granted lease and enforcer deadline kept: every reachable state', () => {
      // Twins are one voter (their voter state is changed under one lock) and two holders of
      // one name: each request a majority granted gives a lease, the member keeps the later
      // one and so does its enforcer (slots). A twin stopped is a slot whose request waits.
      const cfg: ModelConfig = { ...base, slots: 2, maxInFlight: 2 };
      assertSafe('2+witness, twins', cfg, { ...full, maxStates: 3_000_000 }, true);
    });

    it('2 members + witness, a restart at any moment (an unsaved claim epoch is lost): every state within 12 steps', () => {
      // The depth at which the same bounds without the quiet period reach two holders.
      const cfg: ModelConfig = { ...base, maxRestarts: 1 };
      const r = explore(cfg, { ...full, maxDepth: 12 });
      report('2+witness, restart', r);
      if (r.violation) assert.fail(`two holders:\n${formatTrace(r.violation)}`);
    });
  });

  describe('the rule as written in the spec', () => {
    it(`Q = L(1 + rho) + D = ${SPEC_Q} is unsafe: the drop time D needs the drift factor too`, () => {
      // The old holder keeps the address up to L + D on its own (slow) clock after its
      // request; a fast voter measures that as up to (L + D)(1 + rho), not L(1 + rho) + D.
      const actions = assertViolation('spec Q', { ...base, quiet: SPEC_Q });
      assert.ok(actions.some((a) => a.startsWith('tick')));
    });
  });

  describe('mutations: the checker finds the violation', () => {
    it(`D left out of Q (Q = L(1 + rho) = ${L * (1 + RHO)})`, () => {
      assertViolation('Q without D', { ...base, quiet: L * (1 + RHO) });
    });

    it('clock rates beyond rho (rates 1 and 3 with Q for rho = 1)', () => {
      assertViolation('rho exceeded', { ...base, rates: [1, 3] });
    });

    it('no quiet period after a restart', () => {
      assertViolation('no quiet period', { ...base, maxRestarts: 1, mutation: 'no-quiet' });
    });

    it('release clears a promise of another epoch', () => {
      const cfg: ModelConfig = {
        ...base,
        releases: true,
        ticks: false,
        rates: [1],
        maxInFlight: 2,
        mutation: 'release-any-epoch',
      };
      assertViolation('release of any epoch', cfg);
    });

    it('no epoch check in the voter rule (a stale request, then a stale release)', () => {
      const cfg: ModelConfig = {
        ...base,
        releases: true,
        ticks: false,
        rates: [1],
        maxInFlight: 3,
        mutation: 'no-epoch-check',
      };
      assertViolation('no epoch check', cfg);
    });
  });

  (deep === undefined ? describe.skip : describe)(`larger bounds (MODEL_DEPTH=${deep ?? 'unset'})`, function () {
    // Minutes each on a loaded machine.
    this.timeout(0);
    const depth = deep ?? 0;
    it('3 members: every reachable state (epochs <= 2, 1 in flight)', () => {
      assertSafe('3 members, timing', { ...base, holders: 3 }, full, true);
    });

    it(`3 members, releases, time standing still: every state within ${depth} steps (2 in flight)`, () => {
      const cfg: ModelConfig = { ...base, holders: 3, releases: true, ticks: false, rates: [1], maxInFlight: 2 };
      const r = explore(cfg, { ...full, maxDepth: depth, maxStates: 4_000_000 });
      report('3 members, releases', r);
      if (r.violation) assert.fail(`two holders:\n${formatTrace(r.violation)}`);
    });

    it(`2 members + witness, restarts and releases with time, to depth ${depth}`, () => {
      const cfg: ModelConfig = { ...base, maxRestarts: 1, releases: true };
      const r = explore(cfg, { ...full, maxDepth: depth, maxStates: 4_000_000 });
      report('2+witness, restarts + releases', r);
      if (r.violation) assert.fail(`two holders:\n${formatTrace(r.violation)}`);
    });

    it(`3 members, restarts and releases with time, to depth ${depth}`, () => {
      const cfg: ModelConfig = { ...base, holders: 3, maxRestarts: 1, releases: true };
      const r = explore(cfg, { ...full, maxDepth: depth, maxStates: 4_000_000 });
      report('3 members, restarts + releases', r);
      if (r.violation) assert.fail(`two holders:\n${formatTrace(r.violation)}`);
    });
  });
});
