import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';

/**
 * The gap between a silent boot check and the claim's assignment (virtual time). Server a's
 * check hears silence, then its role record takes long to save (a loaded disk); server b
 * boots meanwhile, checks, hears nobody (a does not hold the address yet) and claims. The
 * watch that runs from a's check to its assignment heard b: a's assignment fails, it boots
 * again and becomes the monitor. Without it both held the primary address.
 */

const MS = 1000;
const SECOND = 1_000_000;

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

describe('the claim guard: a boot claim whose assignment comes late (virtual time)', function () {
  this.timeout(30_000);

  it('a server that claimed while our role record was being saved: our assignment fails, one holder', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 41, peers: false });
    const run: Run = { cluster, mostHolders: 0 };
    const [a, b] = ['a', 'b'];
    cluster.startAgent(a);
    expect(await runWatching(run, () => cluster.phases()[a] === 'checking-primary', SECOND)).to.equal(true);
    const release = cluster.node(a).store.holdSaves();
    // a's check ends silent; its claim waits on the disk.
    expect(await runWatching(run, () => cluster.phases()[a] === 'primary', SECOND)).to.equal(true);
    const claimedUs = cluster.clock.nowUs();
    cluster.startAgent(b);
    expect(await runWatching(run, () => cluster.primaryHolders().includes(b), SECOND)).to.equal(true);
    release();
    expect(await runWatching(run, () => cluster.phases()[a] === 'monitor', 5 * SECOND)).to.equal(true);
    expect(run.mostHolders).to.equal(1);
    expect(cluster.primaryHolders()).to.deep.equal([b]);
    const failed = cluster
      .node(a)
      .log.all()
      .find((l) => l.event === 'assign-failed' && l.atUs >= claimedUs);
    expect(failed?.message).to.match(/another member used or probed for it after our check \(.*arp-(probe|reply) /);
    await cluster.stop();
  });

  it('nobody else in the gap: the late assignment goes through', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 42, peers: false });
    const run: Run = { cluster, mostHolders: 0 };
    cluster.startAgent('a');
    expect(await runWatching(run, () => cluster.phases()['a'] === 'checking-primary', SECOND)).to.equal(true);
    const release = cluster.node('a').store.holdSaves();
    expect(await runWatching(run, () => cluster.phases()['a'] === 'primary', SECOND)).to.equal(true);
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
