import { expect } from 'chai';
import { converge, nodeIn } from './fixtures.js';
import { SimCluster } from '../../../src/sim/cluster.js';

/** Issue 12's defects in the executor, each on a simulated cluster (virtual time). */

function logged(cluster: SimCluster, name: string, event: string): number {
  return cluster
    .node(name)
    .log.all()
    .filter((l) => l.event === event).length;
}

/** Runs in 1 ms steps until `done` (at most `maxUs`). */
async function runUntil(cluster: SimCluster, done: () => boolean, maxUs: number): Promise<void> {
  const end = cluster.clock.nowUs() + maxUs;
  while (!done() && cluster.clock.nowUs() < end) await cluster.clock.runFor(1000);
  expect(done(), 'condition not reached').to.equal(true);
}

describe('agent: defects found by bad days (issue 12)', () => {
  it('#6 a release that fails inside the reboot action still ends in boot, not stuck in booting', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 4 });
    await converge(cluster);
    const primary = cluster.node(nodeIn(cluster, 'primary'));
    // The monitor in maintenance fences nobody, so the primary reboots rather than being cycled.
    cluster.node(nodeIn(cluster, 'monitor')).agent!.command('maintenance-on');
    primary.host.failRelease = true;
    // A link flap: link-down releases (fails), link-up reboots (its releases fail too).
    primary.host.setCable(false);
    await cluster.clock.runFor(200_000);
    primary.host.setCable(true);
    await cluster.clock.runFor(3_000_000);
    expect(logged(cluster, primary.name, 'release-failed')).to.be.above(0);
    expect(cluster.phases()[primary.name]).to.not.equal('booting');
  });

  it('#7 state dir full on the monitor during a blip: it fences nobody, halts (retrying), and the primary keeps serving', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 6 });
    await converge(cluster);
    const primary = cluster.node(nodeIn(cluster, 'primary'));
    const monitor = cluster.node(nodeIn(cluster, 'monitor'));
    monitor.store.failSaves = true;
    // A 300 ms blip: the primary's switch port drops everything, its link stays up.
    primary.host.silent = true;
    await cluster.clock.runFor(300_000);
    primary.host.silent = false;
    await cluster.clock.runFor(30_000_000);
    expect(primary.bmc.commands.map((c) => c.command)).to.not.include('off');
    // The fence's intent (what it will power off) is persisted before the fence: that write
    // fails, so no fence starts at all (before, the writability proof refused it).
    expect(logged(cluster, monitor.name, 'fence-start')).to.equal(0);
    expect(logged(cluster, monitor.name, 'persist-failed')).to.be.above(0);
    // A halted server reboots every 5 s and halts again while its store fails: never a role.
    expect(['halted', 'booting', 'boot-wait']).to.include(cluster.phases()[monitor.name]);
    expect(cluster.primaryHolders()).to.deep.equal([primary.name]);
    // Room on the disk again: the next retry boots it back to monitor.
    monitor.store.failSaves = false;
    await cluster.clock.runFor(30_000_000);
    expect(cluster.phases()[monitor.name]).to.equal('monitor');
    expect(cluster.primaryHolders()).to.deep.equal([primary.name]);
  });

  it('#16 a fenced server whose BMC fails the power-on is powered on by a later attempt', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 8 });
    await converge(cluster);
    const primary = cluster.node(nodeIn(cluster, 'primary'));
    const monitor = cluster.node(nodeIn(cluster, 'monitor'));
    primary.host.setCable(false);
    // The BMC goes away right after the fence, so the first power-on fails.
    await runUntil(cluster, () => logged(cluster, monitor.name, 'fence-done') > 0, 5_000_000);
    primary.bmc.down = true;
    await cluster.clock.runFor(3_000_000);
    expect(logged(cluster, monitor.name, 'power-on-failed')).to.be.above(0);
    expect(primary.host.powered).to.equal(false);
    primary.bmc.down = false;
    primary.host.setCable(true);
    await cluster.clock.runFor(20_000_000);
    expect(primary.host.powered).to.equal(true);
    expect(logged(cluster, monitor.name, 'power-on')).to.be.above(0);
  });

  it('a failed assign during a takeover is a failed role change: no primary without the address, the fenced server back', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 12 });
    await converge(cluster);
    const primary = cluster.node(nodeIn(cluster, 'primary'));
    const monitor = cluster.node(nodeIn(cluster, 'monitor'));
    monitor.host.failAssign = true;
    primary.host.setCable(false);
    await runUntil(cluster, () => logged(cluster, monitor.name, 'assign-failed') > 0, 5_000_000);
    primary.host.setCable(true);
    await cluster.clock.runFor(10_000_000);
    // The fenced server got its power back and holds the address again; the monitor that
    // could not assign it does not count itself primary.
    expect(primary.host.powered).to.equal(true);
    expect(cluster.primaryHolders()).to.deep.equal([primary.name]);
    expect(cluster.phases()[monitor.name]).to.not.equal('primary');
  });
});
