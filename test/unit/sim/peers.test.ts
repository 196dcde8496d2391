import { expect } from 'chai';
import { SimCluster } from '../../../src/sim/cluster.js';
import type { AgentStatus } from '../../../src/agent/index.js';

const SECOND = 1_000_000;

async function statusOf(cluster: SimCluster, name: string): Promise<AgentStatus> {
  const agent = cluster.node(name).agent;
  if (agent === null) throw new Error(`${name} has no agent`);
  return agent.status();
}

describe('simulated cluster: peer heartbeat', function () {
  this.timeout(30_000);

  it('with peers on (the default), every agent lists the others as heard on both paths within a second', async () => {
    const cluster = new SimCluster({ nodes: 3, seed: 21 });
    await cluster.bootAll();
    await cluster.clock.runFor(SECOND);
    for (const name of ['a', 'b', 'c']) {
      const peers = (await statusOf(cluster, name)).peers;
      expect(peers, name).to.not.equal(null);
      expect(peers!.members.map((m) => m.node)).to.deep.equal(['a', 'b', 'c'].filter((n) => n !== name));
      for (const m of peers!.members) {
        expect(m.lan?.heardMsAgo, `${name} hears ${m.node} on lan`).to.be.a('number').and.at.most(200);
        expect(m.mgmt?.heardMsAgo, `${name} hears ${m.node} on mgmt`).to.be.a('number').and.at.most(200);
      }
      expect(peers!.dropped.unauthenticated + peers!.dropped.replay + peers!.dropped.stranger).to.equal(0);
    }
    await cluster.stop();
  });

  it('after a server’s switch port goes silent, the others report it silent on the LAN, heard on mgmt', async () => {
    const cluster = new SimCluster({ nodes: 3, seed: 22 });
    await cluster.bootAll();
    await cluster.clock.runFor(3 * SECOND);
    const roles = await Promise.all(['a', 'b', 'c'].map((n) => statusOf(cluster, n)));
    // The agents report what the others hold, as the others say it.
    const primary = roles.find((s) => s.phase === 'primary')?.node;
    const other = roles.find((s) => s.node !== primary)!;
    expect(other.peers!.members.find((m) => m.node === primary)?.holdsPrimary).to.equal(true);
    expect(other.peers!.highest?.epoch).to.be.a('number');

    cluster.node('c').host.silent = true;
    const deadAfterMs = cluster.node('a').config.peer.deadAfterMs;
    await cluster.clock.runFor((deadAfterMs + 300) * 1000);
    for (const name of ['a', 'b']) {
      const c = (await statusOf(cluster, name)).peers!.members.find((m) => m.node === 'c');
      expect(c?.lan?.silent, `${name}: c silent on lan`).to.equal(true);
      expect(c?.mgmt?.silent, `${name}: c heard on mgmt`).to.equal(false);
      expect(c?.mgmt?.heardMsAgo).to.be.at.most(200);
      expect(
        cluster
          .node(name)
          .log.recent(20_000)
          .some((l) => l.event === 'peer-silent'),
      ).to.equal(true);
    }
    await cluster.stop();
  });

  it('peers: false turns the heartbeat off (no member addresses, no key)', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 23, peers: false });
    await cluster.bootAll();
    await cluster.clock.runFor(SECOND);
    expect((await statusOf(cluster, 'a')).peers).to.equal(null);
    expect(cluster.node('a').config.peer.keyFile).to.equal(null);
    await cluster.stop();
  });
});

describe('simulated cluster: a dead monitor agent whose kernel keeps the address', function () {
  this.timeout(60_000);

  it('the primary notices the silence, fences the monitor’s server, and a monitor is back', async () => {
    const cluster = new SimCluster({ nodes: 3, seed: 23 });
    await cluster.bootAll();
    for (let i = 0; i < 200 && !cluster.converged(); i++) await cluster.clock.runFor(50_000);
    const phases = cluster.phases();
    const primary = Object.keys(phases).find((n) => phases[n] === 'primary') ?? '';
    const monitor = Object.keys(phases).find((n) => phases[n] === 'monitor') ?? '';
    await cluster.clock.runFor(2 * SECOND);
    // The agent stops for good (frozen); its kernel still answers for the monitor address.
    cluster.node(monitor).host.freeze();
    await cluster.clock.runFor(10 * SECOND);
    expect(cluster.monitorHolders()).to.deep.equal([monitor]);
    expect(cluster.node(monitor).bmc.commands.map((c) => c.command)).to.not.include('off');
    await cluster.clock.runFor(25 * SECOND);
    expect(cluster.node(monitor).bmc.commands.map((c) => c.command)).to.include('off');
    expect(
      cluster
        .node(primary)
        .log.all()
        .some((l) => l.event === 'monitor-agent-dead'),
    ).to.equal(true);
    // The fenced server came back with a fresh agent; some member is monitor again and the
    // primary never changed.
    for (let i = 0; i < 200 && !cluster.converged(); i++) await cluster.clock.runFor(50_000);
    expect(cluster.converged()).to.equal(true);
    expect(cluster.phases()[primary]).to.equal('primary');
    expect(cluster.monitorHolders()).to.have.length(1);
    await cluster.stop();
  });
});
