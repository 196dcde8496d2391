import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';

/**
 * [0013] through the fence (virtual time): the monitor watches the primary address from the
 * moment its takeover's fences go out; when the fence is done the confirmation is answered
 * by the watch at once, instead of a check of `fencing.confirm_ms` after it. Anything heard
 * in the last window sends it back to the check.
 */

const MS = 1000;
const SECOND = 1_000_000;
const CONFIRM_MS = 30;

async function runUntil(cluster: SimCluster, done: () => boolean, limitUs: number): Promise<boolean> {
  const end = cluster.clock.nowUs() + limitUs;
  while (cluster.clock.nowUs() < end) {
    if (done()) return true;
    await cluster.clock.runFor(MS);
  }
  return done();
}

function phaseHolder(cluster: SimCluster, phase: string): string {
  const name = Object.entries(cluster.phases()).find(([, p]) => p === phase)?.[0];
  if (name === undefined) throw new Error(`nobody is ${phase}: ${JSON.stringify(cluster.phases())}`);
  return name;
}

function transition(cluster: SimCluster, node: string, from: string, to: string, sinceUs: number): number | null {
  const t = cluster
    .node(node)
    .agent?.transitions()
    .find((x) => x.from === from && x.to === to && x.atUs >= sinceUs);
  return t?.atUs ?? null;
}

async function cutPrimary(): Promise<{ cluster: SimCluster; oldPrimary: string; monitor: string; cutUs: number }> {
  const cluster = new SimCluster({
    nodes: 3,
    seed: 23,
    peers: false,
    bmcOffDelayUs: 200 * MS,
    config: { fencing: { confirm_ms: CONFIRM_MS } },
  });
  await cluster.bootAll();
  expect(await runUntil(cluster, () => cluster.converged(), 10 * SECOND)).to.equal(true);
  await cluster.clock.runFor(SECOND);
  const oldPrimary = phaseHolder(cluster, 'primary');
  const monitor = phaseHolder(cluster, 'monitor');
  const cutUs = cluster.clock.nowUs();
  cluster.node(oldPrimary).host.setCable(false);
  return { cluster, oldPrimary, monitor, cutUs };
}

describe('[0013] through the fence: the confirmation watched while the fence runs (virtual time)', function () {
  this.timeout(30_000);

  it('a silent address during the fence: the claim follows the fence at once, not confirm_ms later', async () => {
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary();
    expect(
      await runUntil(cluster, () => transition(cluster, monitor, 'confirming', 'primary', cutUs) !== null, 5 * SECOND),
    ).to.equal(true);
    const confirming = transition(cluster, monitor, 'monitor', 'confirming', cutUs) ?? 0;
    const claimed = transition(cluster, monitor, 'confirming', 'primary', cutUs) ?? 0;
    // The claim did not wait for a window of its own after the fence.
    expect(claimed - confirming).to.be.below(CONFIRM_MS * MS);
    const checked = cluster
      .node(monitor)
      .log.all()
      .filter((l) => l.event === 'checked' && l.atUs >= confirming);
    expect(String(checked[0]?.fields['evidence'])).to.match(/silent for [0-9.]+ ms, watched through the fence/);
    // Ground truth: the old primary was off (fenced) before the claim, and nobody else held it.
    expect(cluster.wasOffDuring(oldPrimary, cutUs, claimed)).to.equal(true);
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
    await cluster.stop();
  });

  it('something answering on the address during the fence: the watch is not used, the full check runs after the fence', async () => {
    const { cluster, monitor, cutUs } = await cutPrimary();
    // A host that is no member answers for the address while the monitor's fence runs (the
    // BMC takes 200 ms). Only members count, so the check after the fence ignores it (an
    // alarm); what matters here is that the watch does not stand in for that check.
    expect(
      await runUntil(
        cluster,
        () =>
          cluster
            .node(monitor)
            .log.all()
            .some((l) => l.event === 'fence-start' && l.atUs >= cutUs),
        2 * SECOND,
      ),
    ).to.equal(true);
    const stranger = cluster.lan.addHost('x', '02:00:00:00:00:99');
    stranger.addresses.set('198.18.0.10', cluster.clock.nowUs());
    expect(
      await runUntil(cluster, () => transition(cluster, monitor, 'confirming', 'primary', cutUs) !== null, 3 * SECOND),
    ).to.equal(true);
    const confirming = transition(cluster, monitor, 'monitor', 'confirming', cutUs) ?? 0;
    const claimed = transition(cluster, monitor, 'confirming', 'primary', cutUs) ?? 0;
    expect(claimed - confirming).to.be.at.least(CONFIRM_MS * MS);
    const unused = cluster
      .node(monitor)
      .log.all()
      .filter((l) => l.event === 'confirm-watch-unused' && l.atUs >= cutUs);
    expect(unused[0]?.message).to.match(/the watch heard arp-reply 02:00:00:00:00:99 [0-9.]+ ms ago: checking again/);
    await cluster.stop();
  });
});
