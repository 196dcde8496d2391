import { expect } from 'chai';
import fc from 'fast-check';
import { SimCluster } from '../../../src/sim/cluster.js';

/**
 * Property: over random fault schedules, in virtual time,
 * 1. at no instant do two connected servers hold the primary address;
 * 2. with fencing.required: true, every path that assigns the primary address is one of two:
 *    the boot claim of a server whose persisted role is primary (FIG. 1, after a silent
 *    check), or a monitor's takeover after a confirmed fence of every target it names (each
 *    target's BMC acknowledged a power off since that server became monitor, and, ground
 *    truth, the target was really powered off at some instant before the takeover, also
 *    with a slow BMC);
 * 3. once faults stop, the cluster converges within CONVERGE_BOUND_US.
 *
 * Per takeover gate (README "Takeover gates"): `confirmed` as above; `isolated` (every server
 * has a simulated switch port) also admits a takeover after the target's port was read back
 * cut (ground truth: the switch carried out the cut, and the target was cut off at the claim);
 * `lease` admits a takeover on a majority lease, with a fence of the target issued no later
 * than the claim (ground truth for its safety is property 1, checked at every instant).
 *
 * Faults: crash (power loss), hang (agent frozen, kernel answering), agent restart (the agent
 * dies, its kernel keeps the addresses, it starts again later), management-only partition
 * (its BMC commands and second heartbeat path fail), link cut, a silent switch
 * port (link up, nothing passes; with fencing.required: false this is the exposure that
 * setting accepts, so those schedules cut the link instead), BMC down,
 * packet loss on the LAN, and a simultaneous power cycle of every server; BMCs that cut the
 * power at once or, like real ones, seconds after acknowledging the off; probing by the
 * event-loop Prober on the simulated LAN (the one engine that runs in virtual time). Per server,
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
/**
 * Replays one schedule of a failed run: the `path` fast-check printed with the failure (its
 * `seed` there is already this run's seed plus the case's offset, so set the run's seed).
 */
const PATH = process.env['HOTSPARE_PROPERTY_PATH'];

type NodeFaultKind = 'crash' | 'hang' | 'cut' | 'silence' | 'restart' | 'mgmt';
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
  /** Every BMC cuts the power this long after acknowledging an off (0: at once). */
  bmcOffDelayMs: number;
}

const nodeFault = fc.record({
  kind: fc.constantFrom<NodeFaultKind>('crash', 'hang', 'cut', 'silence', 'restart', 'mgmt'),
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

function faultEvents(s: Schedule, names: string[], fencingRequired: boolean): Timed[] {
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
      } else if (f.kind === 'restart') {
        // The agent dies and is started again later; the kernel keeps its addresses meanwhile.
        events.push({ atUs: start, run: (c) => c.killAgent(name) });
        events.push({ atUs: end, run: (c) => c.startAgent(name) });
      } else if (f.kind === 'mgmt') {
        // Management-only partition: BMC commands from it and its second heartbeat path fail.
        events.push({ atUs: start, run: (c) => (c.node(name).host.mgmtUp = false) });
        events.push({ atUs: end, run: (c) => (c.node(name).host.mgmtUp = true) });
      } else if (f.kind === 'silence' && fencingRequired) {
        events.push({ atUs: start, run: (c) => (c.node(name).host.silent = true) });
        events.push({ atUs: end, run: (c) => (c.node(name).host.silent = false) });
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
    node.host.silent = false;
    node.host.thaw();
    node.host.mgmtUp = true;
    c.powerOn(node.name);
    c.startAgent(node.name);
  }
}

/** The members a takeover's reason says were fenced (none: no fence). */
function fenceTargets(reason: string): string[] {
  const one = /took over from (\w+) after fencing it/.exec(reason);
  if (one !== null) return [one[1] ?? ''];
  const every = /took over after fencing every other member \(([\w, ]+)\)/.exec(reason);
  return every === null ? [] : (every[1] ?? '').split(', ');
}

/** The members a takeover did not fence because they were heard as spares holding nothing. */
function excusedSpares(reason: string): string[] {
  const m =
    /(?:every other member \(([\w, ]+)\) was heard as a spare holding nothing|but the spares heard holding nothing \(([\w, ]+)\))/.exec(
      reason,
    );
  const list = m?.[1] ?? m?.[2];
  return list === undefined ? [] : list.split(', ');
}

const PRIMARY_IP = '198.18.0.10';
/**
 * Two-holder time admitted as the known silent-holder limit, summed over a test's schedules,
 * and the schedules (fast-check paths: replay one with HOTSPARE_PROPERTY_PATH) that had it.
 */
const exposure = { silentHolderUs: 0, silentHolderCases: 0, paths: [] as number[], path: 0 };
/** HOTSPARE_PROPERTY_STORY=1: print each schedule's story (transitions, power), also when it passes. */
const STORY = process.env['HOTSPARE_PROPERTY_STORY'] === '1';

type Gate = 'confirmed' | 'isolated' | 'lease';

async function check(
  s: Schedule,
  fencingRequired: boolean,
  gate: Gate = 'confirmed',
): Promise<{ convergedAfterUs: number }> {
  const cluster = new SimCluster({
    nodes: s.nodes,
    seed: s.seed,
    bmcOffDelayUs: s.bmcOffDelayMs * MS,
    isolation: gate === 'isolated',
    config: {
      fencing: { required: fencingRequired, retry_ms: 200, retry_max_ms: 2000, gate },
      ...(gate === 'lease' ? { lease: { duration_ms: 60, renew_ms: 10, drift: 0.001, drop_ms: 4 } } : {}),
    },
  });
  const names = [...cluster.nodes.keys()];
  const violations: string[] = [];
  const seen = new Set<string>();
  // Where a server's switch port went silent while it held the primary address: the known
  // limit (README "Known limits"): a server booting with a stale persisted primary role
  // cannot hear a holder behind a silent port, claims, and the two meet when the port
  // returns, until the address defence settles it. Measured, not hidden.
  const silentHolderSince = new Map<string, number>();
  let exposureStartUs: number | null = null;
  cluster.clock.onSettled = () => {
    const nowUs = cluster.clock.nowUs();
    for (const node of cluster.nodes.values()) {
      const holding = node.host.powered && node.host.addresses.has(PRIMARY_IP);
      if (node.host.silent && holding) {
        if (!silentHolderSince.has(node.name)) silentHolderSince.set(node.name, nowUs);
      } else if (!holding) silentHolderSince.delete(node.name);
    }
    const holders = cluster.primaryHolders();
    if (holders.length > 1) {
      // Known limit: one holder claimed while the other held the address behind a silent port.
      const beside = holders.some((x) =>
        holders.some((y) => {
          const since = silentHolderSince.get(x);
          const claim = cluster
            .node(y)
            .agent?.transitions()
            .filter((t) => t.to === 'primary')
            .at(-1)?.atUs;
          return x !== y && since !== undefined && claim !== undefined && claim >= since;
        }),
      );
      if (!beside)
        violations.push(`at ${nowUs} µs two connected servers hold the primary address: ${holders.join(', ')}`);
      else exposureStartUs ??= nowUs;
    } else if (exposureStartUs !== null) {
      exposure.silentHolderUs += nowUs - exposureStartUs;
      exposure.silentHolderCases += 1;
      if (exposure.paths.at(-1) !== exposure.path) exposure.paths.push(exposure.path);
      if (STORY)
        console.log(
          `  known limit: two holders from ${(exposureStartUs / MS).toFixed(1)} to ${(nowUs / MS).toFixed(1)} ms`,
        );
      exposureStartUs = null;
    }
    for (const node of cluster.nodes.values()) {
      const agent = node.agent;
      if (agent === null) continue;
      const t = agent.transitions().at(-1);
      if (t === undefined || t.to !== 'primary') continue;
      const key = `${node.name}@${t.atUs}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!fencingRequired) continue;
      if (gate === 'lease') {
        // The lease gate: every claim (boot or takeover) waited for a majority lease.
        const leased = node.log.all().some((l) => l.event === 'lease-held' && l.atUs === t.atUs);
        if (!leased) violations.push(`${key}: lease gate, claimed without a lease: ${t.reason}`);
      }
      if (t.from === 'checking-primary') {
        if (gate === 'lease') continue;
        // FIG. 1: a persisted primary claims after a silent check. With fencing required, that
        // role must not have been persisted by this server promoting itself on silence alone.
        const lastBoot = agent
          .transitions()
          .filter((x) => x.to === 'booting' && x.atUs <= t.atUs)
          .at(-1);
        if (lastBoot !== undefined && /persisted role primary, rebooting/.test(lastBoot.reason))
          violations.push(`${key}: promoted itself to primary on silence, without a fence: ${lastBoot.reason}`);
        continue;
      }
      if (t.from !== 'confirming') {
        violations.push(`${key}: claimed the primary address from ${t.from} without a fence: ${t.reason}`);
        continue;
      }
      // A handover: the holder released the address in an authenticated heartbeat (the
      // two-holder check above covers a holder that did not really let go).
      if (/after its authenticated release/.test(t.reason)) continue;
      const since =
        agent
          .transitions()
          .filter((x) => x.to === 'monitor')
          .at(-1)?.atUs ?? 0;
      if (gate === 'lease') {
        // The lease gate: the claim waited for a majority (checked above); the fences went
        // out on the grant, or on an earlier attempt of the same takeover, or (a retried
        // takeover) were confirmed.
        if (!/a majority confirmed/.test(t.reason) && fenceTargets(t.reason).length === 0) {
          violations.push(`${key}: lease gate, a takeover neither on a lease nor after a fence: ${t.reason}`);
          continue;
        }
        // A member seen holding the address was fenced at once; with none seen, the majority
        // alone is the proof (nobody else can hold a lease).
        const seenHolder = !/no member was seen holding/.test(t.reason);
        // A takeover whose lease was refused returns to `monitor` and retries after a backoff;
        // it fences once, on the grant or on its first retry, so a fence of an earlier attempt
        // of the same takeover counts: look back past the refusals' returns to `monitor`.
        const takeoverSince =
          agent
            .transitions()
            .filter((x) => x.to === 'monitor' && !/no lease granted/.test(x.reason))
            .at(-1)?.atUs ?? 0;
        const issued = node.log
          .all()
          .some((l) => l.event === 'fence-start' && l.atUs >= takeoverSince && l.atUs <= t.atUs);
        if (seenHolder && !issued) violations.push(`${key}: took over on a lease without issuing a fence`);
        continue;
      }
      const isolated = /took over from (\w+) after its isolation was confirmed/.exec(t.reason);
      if (isolated !== null) {
        const name = isolated[1] ?? '';
        const cut = cluster.switchPorts
          .get(name)
          ?.commands.some((cmd) => cmd.command === 'isolate' && cmd.atUs >= since && cmd.atUs <= t.atUs);
        if (gate !== 'isolated' || cut !== true)
          violations.push(`${key}: took over from ${name} on an isolation the switch never carried out`);
        // Checked as the transition settles: the target is cut off (or off) at the claim.
        const target = cluster.node(name).host;
        if (target.linkUp)
          violations.push(`${key}: took over from ${name}, whose switch port is connected at the claim`);
        continue;
      }
      const targets = fenceTargets(t.reason);
      // Members not fenced because they were heard as spares holding nothing: at the claim
      // none of them holds the address in its kernel (ground truth).
      const spares = excusedSpares(t.reason);
      for (const name of spares)
        if (cluster.node(name).host.addresses.has(PRIMARY_IP))
          violations.push(`${key}: took over beside ${name}, excused as a spare, whose kernel holds the address`);
      if (targets.length === 0 && spares.length === 0) violations.push(`${key}: takeover without a fence: ${t.reason}`);
      // Ground truth from each fenced server's BMC: it carried out a power off (or a cycle)
      // since this server last became monitor; or, with the isolated gate, its switch port
      // was cut and is still cut (or the server off) at the claim.
      const cutOff = (name: string): boolean => {
        if (gate !== 'isolated') return false;
        const cut = cluster.switchPorts
          .get(name)
          ?.commands.some((cmd) => cmd.command === 'isolate' && cmd.atUs >= since && cmd.atUs <= t.atUs);
        const host = cluster.node(name).host;
        return cut === true && !host.linkUp;
      };
      for (const name of targets) {
        if (cutOff(name)) continue;
        const target = cluster.node(name);
        const off = target.bmc.commands.some(
          (cmd) => (cmd.command === 'off' || cmd.command === 'cycle') && cmd.atUs >= since && cmd.atUs <= t.atUs,
        );
        if (!off) violations.push(`${key}: took over from ${name} but its BMC carried out no power off since ${since}`);
        else if (!cluster.wasOffDuring(name, since, t.atUs))
          violations.push(`${key}: took over from ${name}, whose power was never off since ${since}`);
      }
    }
  };
  await cluster.bootAll();
  for (const e of faultEvents(s, names, fencingRequired)) {
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
            .slice(STORY ? -60 : -12)
            .map((l) => `\n    ${(l.atUs / 1000).toFixed(1)} ms ${l.message}`)
            .join('') +
          `\n    its BMC carried out: ${
            n.bmc.commands
              .filter((c) => c.command !== 'status')
              .slice(-8)
              .map((c) => `${c.command} at ${(c.atUs / 1000).toFixed(1)} ms`)
              .join(', ') || 'no power command'
          }; its power (ground truth): ${
            n.powerLog
              .slice(-8)
              .map((c) => `${c.on ? 'on' : 'off'} at ${(c.atUs / 1000).toFixed(1)} ms`)
              .join(', ') || 'unchanged'
          }`,
      )
      .join('\n  ');
  if (violations.length > 0 || convergedAt === null || STORY) console.log(`  ${story()}`);
  expect(violations, violations.slice(0, 5).join('\n')).to.deep.equal([]);
  expect(
    convergedAt,
    `not converged ${CONVERGE_BOUND_US / SECOND} s after the faults stopped: ${JSON.stringify(cluster.phases())}, primary held by ${cluster.primaryHolders().join(',') || 'nobody'}`,
  ).to.not.equal(null);
  return { convergedAfterUs: (convergedAt ?? 0) - healedUs };
}

/**
 * Schedules that failed in sweeps outside CI (the seed of the failing case and the `path`
 * fast-check printed), replayed in every run: each failed before the fix named.
 */
const REPLAYS: Array<{
  gate: Gate;
  required: boolean;
  seed: number;
  path: string;
  fixed: string;
  /** The schedule had two holders under the known silent-holder limit (passing then): now none. */
  withinLimit?: true;
}> = [
  {
    gate: 'confirmed',
    required: true,
    seed: 20261203,
    path: '763',
    fixed: "a check of an address this host holds: other hosts' probes alone are no conflict (091df0e)",
  },
  {
    gate: 'confirmed',
    required: true,
    seed: 20261204,
    path: '7573',
    fixed: "a fence still running from before a reboot does not serve the new life's takeover",
  },
  {
    gate: 'isolated',
    required: true,
    // The sweep's seed 20261204 plus the isolated gate's offset, 2.
    seed: 20261206,
    path: '2321',
    fixed: 'a boot claim from silence trusts a member only while its last heartbeat is fresh (peer freshUs)',
    withinLimit: true,
  },
  {
    gate: 'isolated',
    required: true,
    seed: 20261206,
    path: '7143',
    fixed: 'members booting together as primary: the one of the lower name defers to the higher (claimsAhead)',
    withinLimit: true,
  },
];

describe('properties over random fault schedules (virtual time)', function () {
  // A lease schedule costs a few seconds on a loaded machine: allow 15 s a schedule.
  this.timeout(Math.max(600_000, RUNS * 15_000));

  const cases: Array<{ required: boolean; gate: Gate }> = [
    { required: true, gate: 'confirmed' },
    { required: false, gate: 'confirmed' },
    { required: true, gate: 'isolated' },
    { required: true, gate: 'lease' },
  ];
  for (const r of REPLAYS)
    it(`replay: gate ${r.gate}, fencing.required: ${r.required}, fast-check seed ${r.seed}, schedule ${r.path} (${r.fixed})`, async () => {
      exposure.silentHolderCases = 0;
      exposure.silentHolderUs = 0;
      await fc.assert(
        fc.asyncProperty(schedule, async (s) => {
          await check(s, r.required, r.gate);
        }),
        { numRuns: 1, seed: r.seed, path: r.path, endOnFailure: true },
      );
      if (r.withinLimit === true)
        expect(exposure.silentHolderCases, 'two holders under the known silent-holder limit').to.equal(0);
    });

  for (const { required, gate } of cases) {
    it(`gate ${gate}, fencing.required: ${required} — never two primaries${required ? ', no takeover without what the gate requires' : ''}, convergence within ${CONVERGE_BOUND_US / SECOND} s of the last fault (${RUNS} schedules, seed ${SEED})`, async () => {
      let worst = 0;
      let worstPath = 0;
      exposure.silentHolderUs = 0;
      exposure.silentHolderCases = 0;
      exposure.paths = [];
      // The fast-check path of the next schedule: runs from PATH (or 0) on.
      exposure.path = PATH === undefined ? 0 : Number(PATH.split(':')[0]);
      const offset = gate === 'confirmed' ? (required ? 0 : 1) : gate === 'isolated' ? 2 : 3;
      await fc.assert(
        fc.asyncProperty(schedule, async (s) => {
          try {
            const { convergedAfterUs } = await check(s, required, gate);
            if (convergedAfterUs > worst) {
              worst = convergedAfterUs;
              worstPath = exposure.path;
            }
          } finally {
            exposure.path += 1;
          }
        }),
        { numRuns: RUNS, seed: SEED + offset, endOnFailure: true, ...(PATH === undefined ? {} : { path: PATH }) },
      );
      console.log(`      worst convergence after healing: ${(worst / SECOND).toFixed(2)} s (schedule ${worstPath})`);
      console.log(
        `      known limit, a claim beside a holder behind a silent port: ${exposure.silentHolderCases} case(s), ${(exposure.silentHolderUs / MS).toFixed(1)} ms of two holders in all${exposure.paths.length === 0 ? '' : ` (schedules ${exposure.paths.join(', ')})`}`,
      );
    });
  }
});
