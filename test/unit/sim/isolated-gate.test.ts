import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';

/**
 * The `isolated` takeover gate (virtual time): every server has a switch port the others can
 * shut (a simulated isolation device). The primary's port goes silent while its link stays
 * up and it keeps the address; the BMCs take 4 s to cut the power after acknowledging. The
 * monitor must claim once the cut is read back, not after the power, and at no instant may
 * two connected servers hold the primary address.
 */

const MS = 1000;
const SECOND = 1_000_000;
const BMC_OFF_DELAY_US = 4 * SECOND;

interface Scene {
  cluster: SimCluster;
  oldPrimary: string;
  monitor: string;
  silentUs: number;
  /** Most connected holders of the primary address seen at any 1 ms step. */
  maxHolders: () => number;
}

function phaseHolder(cluster: SimCluster, phase: string): string {
  const name = Object.entries(cluster.phases()).find(([, p]) => p === phase)?.[0];
  if (name === undefined) throw new Error(`nobody is ${phase}: ${JSON.stringify(cluster.phases())}`);
  return name;
}

async function silentPrimary(gate: string, switchDown = false): Promise<Scene> {
  const cluster = new SimCluster({
    nodes: 3,
    seed: 31,
    // Peers off: with them the silent primary's management path would still be heard.
    peers: false,
    isolation: true,
    bmcOffDelayUs: BMC_OFF_DELAY_US,
    config: { fencing: { gate } },
  });
  await cluster.bootAll();
  let max = 0;
  const step = async (limitUs: number, done: () => boolean): Promise<number | null> => {
    const end = cluster.clock.nowUs() + limitUs;
    while (cluster.clock.nowUs() < end) {
      max = Math.max(max, cluster.primaryHolders().length);
      if (done()) return cluster.clock.nowUs();
      await cluster.clock.runFor(MS);
    }
    return done() ? cluster.clock.nowUs() : null;
  };
  expect(await step(10 * SECOND, () => cluster.converged())).to.not.equal(null);
  await step(SECOND, () => false);
  const oldPrimary = phaseHolder(cluster, 'primary');
  const monitor = phaseHolder(cluster, 'monitor');
  for (const port of cluster.switchPorts.values()) port.down = switchDown;
  const silentUs = cluster.clock.nowUs();
  cluster.node(oldPrimary).host.silent = true;
  // The silence is a port fault: it ends when the server loses power (the lab's too).
  const old = cluster.node(oldPrimary);
  const run = step(15 * SECOND, () => {
    if (!old.host.powered) old.host.silent = false;
    return false;
  });
  await run;
  return { cluster, oldPrimary, monitor, silentUs, maxHolders: () => max };
}

function takeover(cluster: SimCluster, node: string): { atUs: number; reason: string } | null {
  const t = cluster
    .node(node)
    .agent?.transitions()
    .find((x) => x.from === 'confirming' && x.to === 'primary');
  return t === undefined ? null : { atUs: t.atUs, reason: t.reason };
}

describe('isolated gate: claim once the switch port is read back cut (virtual time)', function () {
  this.timeout(60_000);

  it('takes over within a second of the silence, long before a 4 s BMC cuts the power; never two connected holders', async () => {
    const { cluster, oldPrimary, monitor, silentUs, maxHolders } = await silentPrimary('isolated');
    const t = takeover(cluster, monitor);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    expect(t?.reason).to.match(/isolation was confirmed/);
    // Detection (3 × 10 ms probes), the cut and its read-back (2 ms each), the [0013] window.
    expect((t?.atUs ?? 0) - silentUs).to.be.below(SECOND);
    const bmc = cluster.node(oldPrimary).bmc;
    const off = bmc.powerChanges.find((p) => !p.on && p.atUs >= silentUs);
    expect(off, 'the power-off still ran').to.not.equal(undefined);
    expect(t?.atUs ?? Infinity).to.be.below(off?.atUs ?? 0);
    expect(maxHolders()).to.equal(1);

    // The port was reconnected only after the power read off, and the server powered on after.
    const port = cluster.switchPorts.get(oldPrimary);
    const isolate = port?.commands.find((c) => c.command === 'isolate' && c.atUs >= silentUs);
    const restore = port?.commands.find((c) => c.command === 'restore' && c.atUs >= silentUs);
    expect(isolate?.atUs ?? Infinity).to.be.below(t?.atUs ?? 0);
    expect(restore?.atUs ?? 0).to.be.above(off?.atUs ?? Infinity);
    const on = bmc.powerChanges.find((p) => p.on && p.atUs >= silentUs);
    expect(on?.atUs ?? 0).to.be.at.least(restore?.atUs ?? Infinity);
    // It rejoins: the cluster converges with the old primary as monitor or spare (the spare
    // may have taken the monitor address first).
    expect(cluster.converged(), JSON.stringify(cluster.phases())).to.equal(true);
    expect(cluster.phases()[oldPrimary]).to.be.oneOf(['monitor', 'spare', 'spare-checking']);
    await cluster.stop();
  });

  it('with the switch down, falls back to the power: the claim waits for the 4 s off', async () => {
    const { cluster, oldPrimary, monitor, silentUs, maxHolders } = await silentPrimary('isolated', true);
    const t = takeover(cluster, monitor);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    expect(t?.reason).to.match(/after fencing it/);
    const off = cluster.node(oldPrimary).bmc.powerChanges.find((p) => !p.on && p.atUs >= silentUs);
    // Never before the off; the same instant is possible: the poll that read it off, then the
    // confirmation watched through the fence ([0013] needs no window of its own after it).
    expect(t?.atUs ?? 0).to.be.at.least(off?.atUs ?? Infinity);
    expect(maxHolders()).to.equal(1);
    const failed = cluster
      .node(monitor)
      .log.all()
      .filter((l) => l.event === 'isolation-failed');
    expect(failed.length).to.be.at.least(1);
    await cluster.stop();
  });

  it('with gate confirmed, the switch port is never touched', async () => {
    const { cluster, oldPrimary, monitor, silentUs } = await silentPrimary('confirmed');
    const t = takeover(cluster, monitor);
    expect(t?.reason).to.match(/after fencing it/);
    const off = cluster.node(oldPrimary).bmc.powerChanges.find((p) => !p.on && p.atUs >= silentUs);
    expect(t?.atUs ?? 0).to.be.at.least(off?.atUs ?? Infinity);
    for (const port of cluster.switchPorts.values()) expect(port.commands).to.deep.equal([]);
    await cluster.stop();
  });
});
