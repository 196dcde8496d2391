import { expect } from 'chai';
import fc from 'fast-check';
import { SimCluster } from '../../src/sim/cluster.js';

/**
 * Property: over random fault schedules, in virtual time,
 * 1. at no instant do two connected servers hold the primary address;
 * 2. with fencing.required: true, no monitor takes over without a confirmed fence: the
 *    fenced server's BMC acknowledged a power off, and (ground truth) the server was
 *    really powered off at some instant before the takeover, also with a slow BMC;
 * 3. once faults stop, the cluster converges within CONVERGE_BOUND_US.
 *
 * Faults: crash (power loss), hang (agent frozen, kernel answering), link cut, BMC down,
 * packet loss on the LAN, and a simultaneous power cycle of every server; BMCs that cut the
 * power at once or, like real ones, seconds after acknowledging the off; probing by the
 * simulated Prober (batches) or by the role machine's probe timers. Per server,
 * crash / hang / cut do not overlap (see README "Known limits": a server frozen while cut
 * off and reconnected before it thaws is the case fencing exists for).
 *
 * Reproduce a failure with HOTSPARE_PROPERTY_SEED=<seed> (printed by fast-check).
 */

const MS = 1000;
const SECOND = 1_000_000;
const FAULT_WINDOW_US = 20 * SECOND;
/** Stated bound for convergence after the last fault heals. */
const CONVERGE_BOUND_US = 12 * SECOND;
const RUNS = Number(process.env['HOTSPARE_PROPERTY_RUNS'] ?? 200);
const SEED =
  process.env['HOTSPARE_PROPERTY_SEED'] === undefined ? 20261126 : Number(process.env['HOTSPARE_PROPERTY_SEED']);

type NodeFaultKind = 'crash' | 'hang' | 'cut';
interface NodeFault {
  kind: NodeFaultKind;
  gapMs: number;
  durationMs: number;
}
interface Schedule {
  nodes: number;
  seed: number;
  perNode: NodeFault[][];
  bmcDown: Array<{ node: number; atMs: number; durationMs: number }>;
  loss: Array<{ atMs: number; durationMs: number; rate: number }>;
  cycleAllAtMs: number | null;
  /** probe.engine: the simulated Prober (batched events) or the machine's own probe timers. */
  engine: 'auto' | 'event-loop';
  /** Every BMC cuts the power this long after acknowledging an off (0: at once). */
  bmcOffDelayMs: number;
}

const nodeFault = fc.record({
  kind: fc.constantFrom<NodeFaultKind>('crash', 'hang', 'cut'),
  gapMs: fc.integer({ min: 200, max: 8000 }),
  durationMs: fc.integer({ min: 50, max: 5000 }),
});

const schedule: fc.Arbitrary<Schedule> = fc.integer({ min: 3, max: 5 }).chain((nodes) =>
  fc.record({
    nodes: fc.constant(nodes),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    perNode: fc.array(fc.array(nodeFault, { maxLength: 3 }), { minLength: nodes, maxLength: nodes }),
    bmcDown: fc.array(
      fc.record({
        node: fc.integer({ min: 0, max: nodes - 1 }),
        atMs: fc.integer({ min: 0, max: 18_000 }),
        durationMs: fc.integer({ min: 100, max: 8000 }),
      }),
      { maxLength: 2 },
    ),
    loss: fc.array(
      fc.record({
        atMs: fc.integer({ min: 0, max: 18_000 }),
        durationMs: fc.integer({ min: 100, max: 5000 }),
        rate: fc.constantFrom(0.01, 0.05, 0.2, 0.5),
      }),
      { maxLength: 2 },
    ),
    cycleAllAtMs: fc.option(fc.integer({ min: 1000, max: 15_000 }), { freq: 5 }),
    engine: fc.constantFrom<Schedule['engine']>('auto', 'event-loop'),
    bmcOffDelayMs: fc.oneof(
      { arbitrary: fc.constant(0), weight: 2 },
      { arbitrary: fc.integer({ min: 1000, max: 6000 }), weight: 1 },
    ),
  }),
);

interface Timed {
  atUs: number;
  run: (c: SimCluster) => void;
}

function faultEvents(s: Schedule, names: string[]): Timed[] {
  const events: Timed[] = [];
  s.perNode.forEach((faults, i) => {
    const name = names[i] ?? 'a';
    let t = 0;
    for (const f of faults) {
      const start = (t + f.gapMs) * MS;
      const end = start + f.durationMs * MS;
      if (end > FAULT_WINDOW_US) break;
      t += f.gapMs + f.durationMs;
      if (f.kind === 'crash') {
        events.push({ atUs: start, run: (c) => c.powerOff(name) });
        // Somebody presses the power button if no fence powered it on meanwhile.
        events.push({ atUs: end, run: (c) => c.powerOn(name) });
      } else if (f.kind === 'hang') {
        events.push({ atUs: start, run: (c) => c.node(name).host.freeze() });
        events.push({ atUs: end, run: (c) => c.node(name).host.thaw() });
      } else {
        events.push({ atUs: start, run: (c) => c.node(name).host.setCable(false) });
        events.push({ atUs: end, run: (c) => c.node(name).host.setCable(true) });
      }
    }
  });
  for (const b of s.bmcDown) {
    const name = names[b.node] ?? 'a';
    events.push({ atUs: b.atMs * MS, run: (c) => (c.node(name).bmc.down = true) });
    events.push({
      atUs: Math.min(FAULT_WINDOW_US, (b.atMs + b.durationMs) * MS),
      run: (c) => (c.node(name).bmc.down = false),
    });
  }
  for (const l of s.loss) {
    events.push({ atUs: l.atMs * MS, run: (c) => (c.lan.lossRate = l.rate) });
    events.push({ atUs: Math.min(FAULT_WINDOW_US, (l.atMs + l.durationMs) * MS), run: (c) => (c.lan.lossRate = 0) });
  }
  if (s.cycleAllAtMs !== null) {
    const at = s.cycleAllAtMs * MS;
    events.push({ atUs: at, run: (c) => names.forEach((n) => c.powerOff(n)) });
    events.push({ atUs: at + 200 * MS, run: (c) => names.forEach((n) => c.powerOn(n)) });
  }
  return events.sort((a, b) => a.atUs - b.atUs);
}

/** Everything back to normal: power, cables, agents thawed, BMCs up, no loss. */
function healAll(c: SimCluster): void {
  c.lan.lossRate = 0;
  for (const node of c.nodes.values()) {
    node.bmc.down = false;
    node.host.setCable(true);
    node.host.thaw();
    c.powerOn(node.name);
  }
}

async function check(s: Schedule, fencingRequired: boolean): Promise<{ convergedAfterUs: number }> {
  const cluster = new SimCluster({
    nodes: s.nodes,
    seed: s.seed,
    bmcOffDelayUs: s.bmcOffDelayMs * MS,
    config: { fencing: { required: fencingRequired, retry_ms: 200, retry_max_ms: 2000 }, probe: { engine: s.engine } },
  });
  const names = [...cluster.nodes.keys()];
  const violations: string[] = [];
  const seen = new Set<string>();
  cluster.clock.onSettled = () => {
    const holders = cluster.primaryHolders();
    if (holders.length > 1)
      violations.push(
        `at ${cluster.clock.nowUs()} µs two connected servers hold the primary address: ${holders.join(', ')}`,
      );
    for (const node of cluster.nodes.values()) {
      const agent = node.agent;
      if (agent === null) continue;
      const t = agent.transitions().at(-1);
      if (t === undefined || t.from !== 'confirming' || t.to !== 'primary') continue;
      const key = `${node.name}@${t.atUs}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const fenced = /took over from (\w+) after fencing it/.exec(t.reason);
      if (fencingRequired) {
        // Ground truth from the fenced server's BMC: it carried out a power off since this
        // server last became monitor.
        const since =
          agent
            .transitions()
            .filter((x) => x.to === 'monitor')
            .at(-1)?.atUs ?? 0;
        const target = fenced === null ? null : cluster.node(fenced[1] ?? '');
        if (target === null) violations.push(`${key}: takeover without a fence: ${t.reason}`);
        else if (!target.bmc.commands.some((cmd) => cmd.command === 'off' && cmd.atUs >= since && cmd.atUs <= t.atUs)) {
          violations.push(`${key}: took over from ${target.name} but its BMC carried out no power off since ${since}`);
        } else if (!cluster.wasOffDuring(target.name, since, t.atUs)) {
          violations.push(`${key}: took over from ${target.name}, whose power was never off since ${since}`);
        }
      }
    }
  };
  await cluster.bootAll();
  for (const e of faultEvents(s, names)) {
    await cluster.clock.runUntil(e.atUs);
    e.run(cluster);
  }
  await cluster.clock.runUntil(FAULT_WINDOW_US);
  healAll(cluster);
  const healedUs = cluster.clock.nowUs();
  let convergedAt: number | null = null;
  while (cluster.clock.nowUs() < healedUs + CONVERGE_BOUND_US) {
    await cluster.clock.runFor(50 * MS);
    if (cluster.converged()) {
      convergedAt = cluster.clock.nowUs();
      break;
    }
  }
  await cluster.stop();
  const story = (): string =>
    [...cluster.nodes.values()]
      .map(
        (n) =>
          `${n.name}: ` +
          n.log
            .all()
            .filter((l) => l.event === 'transition' || l.level === 'error')
            .slice(-12)
            .map((l) => `\n    ${(l.atUs / 1000).toFixed(1)} ms ${l.message}`)
            .join(''),
      )
      .join('\n  ');
  if (violations.length > 0 || convergedAt === null) console.log(`  ${story()}`);
  expect(violations, violations.slice(0, 5).join('\n')).to.deep.equal([]);
  expect(
    convergedAt,
    `not converged ${CONVERGE_BOUND_US / SECOND} s after the faults stopped: ${JSON.stringify(cluster.phases())}, primary held by ${cluster.primaryHolders().join(',') || 'nobody'}`,
  ).to.not.equal(null);
  return { convergedAfterUs: (convergedAt ?? 0) - healedUs };
}

describe('properties over random fault schedules (virtual time)', function () {
  this.timeout(600_000);

  for (const required of [true, false]) {
    it(`fencing.required: ${required} — never two primaries${required ? ', no takeover without a fence' : ''}, convergence within ${CONVERGE_BOUND_US / SECOND} s of the last fault (${RUNS} schedules, seed ${SEED})`, async () => {
      let worst = 0;
      await fc.assert(
        fc.asyncProperty(schedule, async (s) => {
          const { convergedAfterUs } = await check(s, required);
          worst = Math.max(worst, convergedAfterUs);
        }),
        { numRuns: RUNS, seed: SEED + (required ? 0 : 1), endOnFailure: true },
      );
      console.log(`      worst convergence after healing: ${(worst / SECOND).toFixed(2)} s`);
    });
  }
});
