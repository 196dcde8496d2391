import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';

/**
 * The `lease` gate with two members and a witness (`lease.witness`, `hotspare witness`), in
 * virtual time: three voters, so either member has a majority with the witness. BMCs take 4 s
 * to cut the power, so a takeover that waited for the power would show it.
 */

const MS = 1000;
const SECOND = 1_000_000;
const LEASE = { duration_ms: 40, renew_ms: 5, drift: 0.001, drop_ms: 4 };
/** Q = (L + d_drop)·(1+ρ), in µs. */
const Q_US = Math.ceil((LEASE.duration_ms + LEASE.drop_ms) * MS * (1 + LEASE.drift));

interface Scene {
  cluster: SimCluster;
  primary: string;
  monitor: string;
  /** The most servers that held the primary address at one instant, as ground truth. */
  maxHolders: () => number;
  /** Runs virtual time in 1 ms steps, tracking holders, until `done` or `limitUs`. */
  step: (limitUs: number, done?: () => boolean) => Promise<number | null>;
}

async function converged(): Promise<Scene> {
  const cluster = new SimCluster({
    nodes: 2,
    seed: 43,
    bmcOffDelayUs: 4 * SECOND,
    witness: true,
    config: { fencing: { gate: 'lease' }, lease: LEASE },
  });
  await cluster.bootAll();
  let max = 0;
  const step = async (limitUs: number, done: () => boolean = () => false): Promise<number | null> => {
    const end = cluster.clock.nowUs() + limitUs;
    while (cluster.clock.nowUs() < end) {
      max = Math.max(max, cluster.primaryHolders().length);
      if (done()) return cluster.clock.nowUs();
      await cluster.clock.runFor(MS);
    }
    return done() ? cluster.clock.nowUs() : null;
  };
  expect(await step(10 * SECOND, () => cluster.converged()), JSON.stringify(cluster.phases())).to.not.equal(null);
  await step(SECOND);
  const phases = Object.entries(cluster.phases());
  const primary = phases.find(([, p]) => p === 'primary')?.[0] ?? '';
  const monitor = phases.find(([, p]) => p === 'monitor')?.[0] ?? '';
  return { cluster, primary, monitor, maxHolders: () => max, step };
}

function takeoverAfter(cluster: SimCluster, node: string, sinceUs: number): { atUs: number; reason: string } | null {
  const t = cluster
    .node(node)
    .agent?.transitions()
    .find((x) => x.to === 'primary' && x.atUs >= sinceUs);
  return t === undefined ? null : { atUs: t.atUs, reason: t.reason };
}

function events(cluster: SimCluster, node: string, event: string): string[] {
  return cluster
    .node(node)
    .log.all()
    .filter((l) => l.event === event)
    .map((l) => l.message);
}

describe('lease gate with two members and a witness (virtual time)', function () {
  this.timeout(60_000);

  it('converges: the primary holds a lease granted by 2 of 3 voters, the witness among the voters it asked', async () => {
    const { cluster, primary, maxHolders } = await converged();
    const status = await cluster.node(primary).agent?.status();
    expect(status?.lease?.holder?.held).to.equal(true);
    expect(events(cluster, primary, 'transition').join('\n')).to.not.contain('lease-lost');
    const held = cluster
      .node(primary)
      .log.all()
      .find((l) => l.event === 'lease-held' || /granted by/.test(l.message));
    expect(held?.message).to.match(/of 3, 2 needed/);
    const grants = cluster.witnessLog.all().filter((l) => l.event === 'witness-grant');
    expect(grants.map((g) => g.fields['to'])).to.include(primary);
    expect(maxHolders()).to.equal(1);
    await cluster.stop();
  });

  it('a cut primary: the monitor claims with the witness once the promises ran out, long before the 4 s BMC', async () => {
    const { cluster, primary, monitor, maxHolders, step } = await converged();
    const faultUs = cluster.clock.nowUs();
    cluster.node(primary).host.setCable(false);
    await step(2 * SECOND, () => takeoverAfter(cluster, monitor, faultUs) !== null);
    const t = takeoverAfter(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    expect(t?.reason).to.match(/lease ran out/);
    expect((t?.atUs ?? 0) - faultUs).to.be.at.least(Q_US - 5 * MS);
    expect((t?.atUs ?? 0) - faultUs).to.be.below(500 * MS);
    // The witness granted the monitor: the two voters it needed were itself and the witness.
    const grants = cluster.witnessLog.all().filter((l) => l.event === 'witness-grant' && l.atUs >= faultUs);
    expect(grants.map((g) => g.fields['to'])).to.include(monitor);
    expect(cluster.node(primary).host.powered, 'the BMC has not cut the power yet').to.equal(true);
    expect(maxHolders()).to.equal(1);
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
    await cluster.stop();
  });

  it('the witness powered off: the primary keeps its lease on its own vote and the monitor’s, no takeover', async () => {
    const { cluster, primary, monitor, maxHolders, step } = await converged();
    const faultUs = cluster.clock.nowUs();
    cluster.stopWitness();
    await step(3 * SECOND);
    expect(takeoverAfter(cluster, monitor, faultUs)).to.equal(null);
    expect(cluster.phases()[primary]).to.equal('primary');
    expect((await cluster.node(primary).agent?.status())?.lease?.holder?.held).to.equal(true);
    expect(
      cluster
        .node(primary)
        .log.all()
        .filter((l) => l.event === 'lease-lost' && l.atUs >= faultUs),
    ).to.deep.equal([]);
    expect(maxHolders()).to.equal(1);
    await cluster.stop();
  });

  it('the witness powered off and the primary cut: no majority, so nobody holds the address until the witness is back', async () => {
    const { cluster, primary, monitor, maxHolders, step } = await converged();
    cluster.stopWitness();
    await step(SECOND);
    const faultUs = cluster.clock.nowUs();
    cluster.node(primary).host.setCable(false);
    // One voter of three: the cut primary's lease runs out (its enforcer drops the address)
    // and the monitor cannot get one, not even after the BMC cut the power.
    await step(8 * SECOND);
    expect(takeoverAfter(cluster, monitor, faultUs)).to.equal(null);
    expect(cluster.node(primary).host.addresses.has('198.18.0.10')).to.equal(false);
    expect(cluster.primaryHolders()).to.deep.equal([]);
    const backUs = cluster.clock.nowUs();
    cluster.startWitness();
    await step(2 * SECOND, () => takeoverAfter(cluster, monitor, faultUs) !== null);
    const t = takeoverAfter(cluster, monitor, faultUs);
    expect(t, JSON.stringify(cluster.phases())).to.not.equal(null);
    // The restarted witness is quiet for Q first.
    expect(t?.atUs ?? 0).to.be.at.least(backUs + Q_US);
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
    expect(maxHolders()).to.equal(1);
    await cluster.stop();
  });

  it('a restarted witness grants nothing for Q: it may have forgotten a promise', async () => {
    const { cluster, primary, step } = await converged();
    cluster.stopWitness();
    // Down for less than a lease: the holder still asks it every round (a member silent for
    // longer is asked every 100 ms), so requests reach it during its quiet period.
    await step(20 * MS);
    const startUs = cluster.clock.nowUs();
    cluster.startWitness();
    await step(Q_US + 50 * MS);
    const log = cluster.witnessLog.all().filter((l) => l.atUs >= startUs);
    const grants = log.filter((l) => l.event === 'witness-grant');
    expect(grants.length).to.be.above(0);
    expect(grants[0]?.fields['to']).to.equal(primary);
    expect(grants[0]?.atUs ?? 0).to.be.at.least(startUs + Q_US);
    expect(log.some((l) => l.event === 'witness-refusal' && /quiet for/.test(l.message))).to.equal(true);
    await cluster.stop();
  });
});
