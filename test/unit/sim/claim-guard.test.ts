import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';

/**
 * The gap between a silent boot check and the claim's assignment (virtual time). Server a's
 * check hears silence, then its role record takes long to save (a loaded disk). The watch
 * that runs from a's check to its assignment (src/agent/claim-guard.ts) keeps probing, so a
 * server checking in that gap backs off; and a member that took the address in the gap
 * anyway makes a's assignment fail.
 */

const MS = 1000;
const SECOND = 1_000_000;
const PRIMARY_IP = '198.18.0.10';

interface Run {
  cluster: SimCluster;
  /** The most servers seen holding the primary address at once, sampled every millisecond. */
  mostHolders: number;
}

async function runWatching(run: Run, done: () => boolean, limitUs: number): Promise<boolean> {
  const end = run.cluster.clock.nowUs() + limitUs;
  while (run.cluster.clock.nowUs() < end) {
    run.mostHolders = Math.max(run.mostHolders, run.cluster.primaryHolders().length);
    if (done()) return true;
    await run.cluster.clock.runFor(MS);
  }
  return done();
}

/** Two servers; a's check ends silent and its claim waits on its disk. */
async function aInTheGap(seed: number): Promise<{ run: Run; release: () => void; claimedUs: number }> {
  const cluster = new SimCluster({ nodes: 2, seed, peers: false });
  const run: Run = { cluster, mostHolders: 0 };
  cluster.startAgent('a');
  expect(await runWatching(run, () => cluster.phases()['a'] === 'checking-primary', SECOND)).to.equal(true);
  const release = cluster.node('a').store.holdSaves();
  expect(await runWatching(run, () => cluster.phases()['a'] === 'primary', SECOND)).to.equal(true);
  return { run, release, claimedUs: cluster.clock.nowUs() };
}

describe('the claim guard: a boot claim whose assignment comes late (virtual time)', function () {
  this.timeout(30_000);

  it('a server booting in the gap hears our watch, backs off, and becomes the monitor: one holder', async () => {
    const { run, release, claimedUs } = await aInTheGap(41);
    const { cluster } = run;
    cluster.startAgent('b');
    // b checks (again and again) while a's record is being saved, and never claims.
    await runWatching(run, () => false, 600 * MS);
    expect(cluster.primaryHolders()).to.deep.equal([]);
    const contended = cluster
      .node('b')
      .log.all()
      .filter((l) => l.event === 'transition' && /contended \(arp-probe /.test(l.message));
    expect(contended.length, 'b backed off on hearing a').to.be.at.least(1);
    release();
    expect(await runWatching(run, () => cluster.phases()['b'] === 'monitor', 5 * SECOND)).to.equal(true);
    expect(run.mostHolders).to.equal(1);
    expect(cluster.primaryHolders()).to.deep.equal(['a']);
    expect(
      cluster
        .node('a')
        .log.all()
        .some((l) => l.event === 'assign-failed' && l.atUs >= claimedUs),
    ).to.equal(false);
    await cluster.stop();
  });

  it('a member that took the address in the gap without hearing us: our assignment fails, one holder', async () => {
    const { run, release, claimedUs } = await aInTheGap(42);
    const { cluster } = run;
    // b's kernel takes the address and announces it (as b would after a check that missed our probes).
    const b = cluster.node('b').host;
    b.addresses.set(PRIMARY_IP, cluster.clock.nowUs());
    cluster.lan.announce(b, PRIMARY_IP);
    release();
    expect(await runWatching(run, () => cluster.phases()['a'] === 'monitor', 5 * SECOND)).to.equal(true);
    expect(run.mostHolders).to.equal(1);
    expect(cluster.primaryHolders()).to.deep.equal(['b']);
    const failed = cluster
      .node('a')
      .log.all()
      .find((l) => l.event === 'assign-failed' && l.atUs >= claimedUs);
    expect(failed?.message).to.include(`not claimed: another member used it after our check (arp-reply ${b.mac})`);
    await cluster.stop();
  });

  it('nobody else in the gap: the late assignment goes through', async () => {
    const { run, release } = await aInTheGap(43);
    const { cluster } = run;
    await runWatching(run, () => false, 500 * MS);
    release();
    expect(await runWatching(run, () => cluster.primaryHolders().includes('a'), SECOND)).to.equal(true);
    expect(
      cluster
        .node('a')
        .log.all()
        .some((l) => l.event === 'assign-failed'),
    ).to.equal(false);
    await cluster.stop();
  });
});
