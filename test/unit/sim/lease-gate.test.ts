import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';
import type { SimOptions } from '../../../src/sim/cluster.js';
import type { AgentStatus } from '../../../src/agent/status.js';

/**
 * The `lease` takeover gate (virtual time): no claim of the primary address without a lease
 * granted by a majority; the holder's enforcer drops the address when its lease runs out,
 * even while its agent is hung. BMCs take 4 s to cut the power, so any takeover that waited
 * for the power would show it.
 */

const MS = 1000;
const SECOND = 1_000_000;
const LEASE = { duration_ms: 40, renew_ms: 5, drift: 0.001, drop_ms: 4 };
/** Q = (L + d_drop)·(1+ρ), in µs. */
const Q_US = Math.ceil((LEASE.duration_ms + LEASE.drop_ms) * MS * (1 + LEASE.drift));

interface Run {
  cluster: SimCluster;
  primary: string;
  monitor: string;
  faultUs: number;
  maxHolders: number;
  /** When each server held the primary address, as ground truth from the kernels. */
  heldSince: Map<string, number>;
}

function phaseHolder(cluster: SimCluster, phase: string): string {
  const name = Object.entries(cluster.phases()).find(([, p]) => p === phase)?.[0];
  if (name === undefined) throw new Error(`nobody is ${phase}: ${JSON.stringify(cluster.phases())}`);
  return name;
}

async function leaseRun(
  fault: (cluster: SimCluster, primary: string) => void,
  options: Partial<SimOptions> = {},
  afterUs = 5 * SECOND,
  lease: typeof LEASE = LEASE,
): Promise<Run> {
  const cluster = new SimCluster({
    nodes: 3,
    seed: 41,
    bmcOffDelayUs: 4 * SECOND,
    ...options,
    config: { fencing: { gate: 'lease' }, lease },
  });
  await cluster.bootAll();
  let maxHolders = 0;
  const heldSince = new Map<string, number>();
  const step = async (limitUs: number, done: () => boolean): Promise<number | null> => {
    const end = cluster.clock.nowUs() + limitUs;
    while (cluster.clock.nowUs() < end) {
      const holders = cluster.primaryHolders();
      maxHolders = Math.max(maxHolders, holders.length);
      for (const h of holders) if (!heldSince.has(h)) heldSince.set(h, cluster.clock.nowUs());
      for (const h of [...heldSince.keys()]) if (!holders.includes(h)) heldSince.delete(h);
      if (done()) return cluster.clock.nowUs();
      await cluster.clock.runFor(MS);
    }
    return done() ? cluster.clock.nowUs() : null;
  };
  expect(await step(10 * SECOND, () => cluster.converged()), JSON.stringify(cluster.phases())).to.not.equal(null);
  await step(SECOND, () => false);
  const primary = phaseHolder(cluster, 'primary');
  const monitor = phaseHolder(cluster, 'monitor');
  const faultUs = cluster.clock.nowUs();
  fault(cluster, primary);
  await step(afterUs, () => false);
  return { cluster, primary, monitor, faultUs, maxHolders, heldSince };
}

function monitorOf(cluster: SimCluster): string | undefined {
  return Object.entries(cluster.phases()).find(([, p]) => p === 'monitor')?.[0];
}

function takeover(cluster: SimCluster, node: string, sinceUs: number): { atUs: number; reason: string } | null {
  const t = cluster
    .node(node)
    .agent?.transitions()
    .find((x) => x.to === 'primary' && x.atUs >= sinceUs);
  return t === undefined ? null : { atUs: t.atUs, reason: t.reason };
}

describe('lease gate: claim on a majority lease, the address dropped when it runs out (virtual time)', function () {
  this.timeout(60_000);

  it('converges with a lease: the primary holds one, renewed, and says so in its status', async () => {
    const { cluster, primary, maxHolders } = await leaseRun(() => {}, {}, SECOND);
    const status = await cluster.node(primary).agent?.status();
    expect(status?.lease?.holder?.held).to.equal(true);
    expect(status?.lease?.holder?.msLeft ?? 0).to.be.above(0);
    expect(maxHolders).to.equal(1);
    expect(cluster.converged()).to.equal(true);
    await cluster.stop();
  });

  it("a cut primary: the monitor claims once a majority's promises ran out, not after the 4 s BMC", async () => {
    const { cluster, primary, monitor, faultUs, maxHolders } = await leaseRun((c, p) => c.node(p).host.setCable(false));
    const t = takeover(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    expect(t?.reason).to.match(/lease ran out/);
    // No earlier than Q after the fault (the last grant came just before it), well before the power-off.
    expect((t?.atUs ?? 0) - faultUs).to.be.at.least(Q_US - 5 * MS);
    expect((t?.atUs ?? 0) - faultUs).to.be.below(500 * MS);
    const off = cluster.node(primary).bmc.powerChanges.find((p) => !p.on && p.atUs >= faultUs);
    expect(off, 'the fence was still issued').to.not.equal(undefined);
    expect(t?.atUs ?? Infinity).to.be.below(off?.atUs ?? 0);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it("the new primary restarts while the old one's BMC is still cutting the power: it powers the old one on again", async () => {
    const { cluster, primary, monitor, faultUs } = await leaseRun((c, p) => c.node(p).host.setCable(false), {}, SECOND);
    expect(takeover(cluster, monitor, faultUs), JSON.stringify(cluster.phases())).to.not.equal(null);
    const bmc = cluster.node(primary).bmc;
    expect(bmc.offPending, 'the fence was acknowledged and the power is not off yet').to.equal(true);
    // The new primary loses its power and comes back at once, long before the old one's is cut.
    cluster.powerCycle(monitor);
    await cluster.clock.runFor(10 * SECOND);
    const changes = bmc.powerChanges.filter((p) => p.atUs >= faultUs).map((p) => (p.on ? 'on' : 'off'));
    // The BMC carries out the on after the off it is holding (as the lab's does).
    expect(changes, "off at the BMC's own pace, then on again").to.deep.equal(['off', 'on']);
    expect(cluster.node(primary).host.powered).to.equal(true);
    await cluster.stop();
  });

  /**
   * The primary's switch port is cut and its BMC drops an on that comes while it still carries
   * out an off; once the monitor took over, `restart` restarts the new primary while that off
   * is pending. Checks that the old primary is powered on again after the off, and that no
   * on reached its BMC before the power was off. Returns the cluster and the new primary.
   */
  async function restartDuringDroppingOff(
    restart: (cluster: SimCluster, monitor: string) => void,
  ): Promise<{ cluster: SimCluster; monitor: string; restartUs: number }> {
    const { cluster, primary, monitor, faultUs } = await leaseRun(
      (c, p) => {
        // This BMC forgets an on that comes while it still holds the power button.
        c.node(p).bmc.onDuringOff = 'drop';
        c.node(p).host.setCable(false);
      },
      {},
      SECOND,
    );
    expect(takeover(cluster, monitor, faultUs), JSON.stringify(cluster.phases())).to.not.equal(null);
    const bmc = cluster.node(primary).bmc;
    expect(bmc.offPending, 'the fence was acknowledged and the power is not off yet').to.equal(true);
    const restartUs = cluster.clock.nowUs();
    restart(cluster, monitor);
    await cluster.clock.runFor(10 * SECOND);
    const changes = bmc.powerChanges.filter((p) => p.atUs >= faultUs).map((p) => (p.on ? 'on' : 'off'));
    expect(changes, "off at the BMC's own pace, then on again").to.deep.equal(['off', 'on']);
    expect(cluster.node(primary).host.powered).to.equal(true);
    const offUs = bmc.powerChanges.find((p) => !p.on && p.atUs >= faultUs)?.atUs ?? Infinity;
    const ons = bmc.commands.filter((x) => x.command === 'on' && x.atUs >= restartUs);
    expect(ons.length).to.be.at.least(1);
    expect(
      ons.every((x) => x.atUs >= offUs),
      'no on before the power was off',
    ).to.equal(true);
    return { cluster, monitor, restartUs };
  }

  it("the new primary's agent restarts while the old one's BMC is still cutting the power, and that BMC drops an on meanwhile: it waits for the off, then powers it on", async () => {
    // The agent dies and starts again on the same boot, long before the old one's power is cut.
    const { cluster, monitor, restartUs } = await restartDuringDroppingOff((c, m) => {
      c.killAgent(m);
      c.startAgent(m);
    });
    const waited = cluster
      .node(monitor)
      .log.all()
      .filter((l) => l.event === 'power-on-wait' && l.atUs >= restartUs);
    expect(waited.length, 'the wait is logged').to.be.at.least(2);
    await cluster.stop();
  });

  it("the new primary restarts on a new boot while the old one's BMC is still cutting the power, and that BMC drops an on meanwhile: it waits for the off, then powers it on", async () => {
    // A power cycle: the new boot cannot place the off it stamped on the old one in time.
    const { cluster } = await restartDuringDroppingOff((c, m) => c.powerCycle(m));
    await cluster.stop();
  });
  it("a hung primary agent (its kernel still answers): the enforcer drops the address at the lease's end, then the monitor takes over", async () => {
    // One second: the fence's power-off comes 4 s after the fault, and would end the hang.
    const { cluster, primary, monitor, faultUs, maxHolders } = await leaseRun(
      (c, p) => c.node(p).host.freeze(),
      {},
      SECOND,
    );
    const node = cluster.node(primary);
    const enforced = node.log.all().filter((l) => l.event === 'lease-enforced');
    // The enforcer's own log line reaches the log only when the agent thaws; ground truth
    // is the kernel: the hung server no longer holds the address, the monitor does.
    expect(node.host.addresses.has('198.18.0.10') && node.host.onWire).to.equal(false);
    const t = takeover(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    expect(maxHolders).to.equal(1);
    expect(enforced).to.deep.equal([]);
    // Thawed, the old primary learns its lease is gone and does not claim again.
    node.host.thaw();
    await cluster.clock.runFor(2 * SECOND);
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
    expect(node.log.all().some((l) => l.event === 'lease-lost' || l.event === 'lease-enforced')).to.equal(true);
    await cluster.stop();
  });

  it("a cut primary: the claim is granted within a millisecond of the voters' promises running out, not at the next renewal period", async () => {
    // A long renewal period (20 ms) against a lease of 100 ms: a claim that asked again only
    // every renewal period would be granted up to 20 ms after the promises ended.
    const lease = { duration_ms: 100, renew_ms: 20, drift: 0.001, drop_ms: 4 };
    const promises: Array<Promise<number | null>> = [];
    const { cluster, monitor, faultUs, maxHolders } = await leaseRun(
      (c, p) => {
        // What each voter other than the primary promised it, read at the fault.
        for (const n of c.nodes.keys())
          if (n !== p)
            promises.push(
              c
                .node(n)
                .agent?.status()
                .then((st) => st.lease?.voter.promiseMsLeft ?? null) ?? Promise.resolve(null),
            );
        c.node(p).host.setCable(false);
      },
      {},
      2 * SECOND,
      lease,
    );
    const left = await Promise.all(promises);
    expect(
      left.every((x) => x !== null && x > 60),
      `promises left at the fault: ${JSON.stringify(left)} ms`,
    ).to.equal(true);
    // A majority (the monitor and the spare) can grant once both promises ended.
    const promisesEndUs = faultUs + Math.max(...left.map((x) => x ?? 0)) * MS;
    const held = cluster
      .node(monitor)
      .log.all()
      .find((l) => l.event === 'lease-held' && l.atUs >= faultUs);
    expect(held, 'the monitor was granted the lease').to.not.equal(undefined);
    expect((held?.atUs ?? Infinity) - promisesEndUs).to.be.below(2.5 * MS);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it('a primary whose LAN port is silent (management LAN still up) loses its lease; the monitor takes over', async () => {
    const { cluster, monitor, faultUs, maxHolders } = await leaseRun((c, p) => {
      c.node(p).host.silent = true;
    });
    const t = takeover(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it('no majority, no claim: with the spare powered off and the primary cut, the monitor does not take over', async () => {
    const { cluster, primary, monitor, faultUs, maxHolders } = await leaseRun((c, p) => {
      const spare = [...c.nodes.keys()].find((n) => n !== p && c.phases()[n] !== 'monitor') ?? '';
      c.powerOff(spare);
      c.node(p).host.setCable(false);
    });
    // The monitor alone is 1 of 3: it asks, is refused a majority, and holds nothing until
    // the fenced primary is powered on again and, past its quiet period, votes.
    const t = takeover(cluster, monitor, faultUs);
    const on = cluster.node(primary).powerLog.find((p) => p.on && p.atUs > faultUs);
    expect(on, 'the fenced primary was powered on again').to.not.equal(undefined);
    if (t !== null) expect(t.atUs).to.be.at.least((on?.atUs ?? Infinity) + Q_US);
    expect(
      cluster
        .node(monitor)
        .log.all()
        .some((l) => l.event === 'lease-refused'),
    ).to.equal(true);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it('a false alarm (probes unanswered while the primary renews its lease): the lease is refused and nobody is fenced', async () => {
    // 300 ms without echo replies, far longer than the window (5 misses of 10 ms): the
    // monitor asks for the lease; the voters still keep their promises to the primary.
    const { cluster, primary, monitor, faultUs, maxHolders } = await leaseRun(
      (c, p) => {
        const host = c.node(p).host;
        host.echoMuted = true;
        c.clock.at(c.clock.nowUs() + 300 * MS, () => {
          host.echoMuted = false;
        });
      },
      {},
      2 * SECOND,
    );
    const log = cluster
      .node(monitor)
      .log.all()
      .filter((l) => l.atUs >= faultUs);
    expect(log.some((l) => l.event === 'primary-silent')).to.equal(true);
    const refused = log.find((l) => l.event === 'lease-refused');
    expect(refused?.fields['notFenced']).to.equal(primary);
    expect(log.some((l) => l.event === 'fence-start' || l.event === 'primary-down')).to.equal(false);
    expect(cluster.node(primary).powerLog.filter((p) => p.atUs >= faultUs)).to.deep.equal([]);
    expect(cluster.phases()[primary]).to.equal('primary');
    expect(cluster.primaryHolders()).to.deep.equal([primary]);
    // The claim's record (primary) was saved before it asked; the refusal saved monitor back.
    const saved = cluster.node(monitor).store.saved.slice(-2);
    expect(saved.map((r) => r.role)).to.deep.equal(['primary', 'monitor']);
    expect(saved[1]?.epoch ?? 0).to.be.above(saved[0]?.epoch ?? Infinity);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it("the lease is asked for while the claim's role record is saved: a slow disk holds the address, not the request", async () => {
    let release: (() => void) | null = null;
    let heldAtUs = 0;
    let leaseAtRelease: Promise<AgentStatus | undefined> = Promise.resolve(undefined);
    let savedAtFault = -1;
    let savedAtRelease = -2;
    const { cluster, monitor, faultUs, maxHolders, heldSince } = await leaseRun(
      (c, p) => {
        // The monitor's disk stalls from the fault on (a slow fsync); released 200 ms later,
        // long after the voters' promises to the cut primary ran out.
        const m = monitorOf(c) ?? '';
        const store = c.node(m).store;
        release = store.holdSaves();
        savedAtFault = store.saved.length;
        c.clock.at(c.clock.nowUs() + 200 * MS, () => {
          heldAtUs = c.clock.nowUs();
          // The status is read now, before the held save completes.
          leaseAtRelease = c.node(m).agent?.status() ?? Promise.resolve(undefined);
          savedAtRelease = store.saved.length;
          release?.();
        });
        c.node(p).host.setCable(false);
      },
      {},
      SECOND,
    );
    const t = takeover(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    // The request went out and a majority granted it while the record was still being saved.
    const lease = (await leaseAtRelease)?.lease?.holder;
    expect(lease?.held, JSON.stringify(lease)).to.equal(true);
    // Nothing was saved, and the address was not assigned, before the disk let the save through.
    expect(savedAtRelease).to.equal(savedAtFault);
    expect(heldSince.get(monitor) ?? 0).to.be.at.least(heldAtUs);
    // The first record saved after the fault is the claim's, at the epoch of the takeover.
    const claim = cluster.node(monitor).store.saved.slice(savedAtFault)[0];
    expect(claim?.reason).to.match(/^claiming: /);
    const epoch = cluster
      .node(monitor)
      .agent?.transitions()
      .find((x) => x.to === 'primary' && x.atUs >= faultUs)?.epoch;
    expect(claim).to.deep.include({ role: 'primary', epoch });
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it('a primary that renews its lease but never answers on the primary address: the second run of misses fences it', async () => {
    const { cluster, primary, monitor, faultUs, maxHolders } = await leaseRun(
      (c, p) => {
        c.node(p).host.echoMuted = true;
      },
      {},
      7 * SECOND,
    );
    const log = cluster
      .node(monitor)
      .log.all()
      .filter((l) => l.atUs >= faultUs);
    const refused = log.find((l) => l.event === 'lease-refused');
    const fence = log.find((l) => l.event === 'fence-start');
    expect(refused?.fields['notFenced']).to.equal(primary);
    expect(fence?.atUs ?? 0).to.be.above(refused?.atUs ?? Infinity);
    const off = cluster.node(primary).powerLog.find((p) => !p.on && p.atUs >= faultUs);
    expect(off, 'the primary was powered off').to.not.equal(undefined);
    // It renewed until its power went: no claim of the monitor's came before.
    const t = takeover(cluster, monitor, faultUs);
    if (t !== null) expect(t.atUs).to.be.above(off?.atUs ?? Infinity);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });

  it('demote on the primary: the lease is released once the address is gone, and the monitor is granted at once', async () => {
    const { cluster, monitor, faultUs, maxHolders } = await leaseRun((c, p) => {
      c.node(p).agent?.command('demote');
    });
    const t = takeover(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    const log = cluster.node(monitor).log.all();
    const asked = log.find((l) => l.event === 'lease-acquire' && l.atUs >= faultUs);
    const held = log.find((l) => l.event === 'lease-held' && l.atUs >= faultUs);
    // Without the release the voters' promises would hold the claim for up to Q.
    expect((held?.atUs ?? Infinity) - (asked?.atUs ?? 0)).to.be.below(5 * MS);
    expect(maxHolders).to.equal(1);
    await cluster.stop();
  });
});
