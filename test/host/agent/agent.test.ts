import { expect } from 'chai';
import { converge, nodeIn } from './fixtures.js';
import { SimCluster, SIM_PRIMARY } from '../../../src/sim/cluster.js';

describe('agent executor with simulated drivers', () => {
  it('status reports role, epoch, held address, RTT in µs and transitions', async () => {
    const cluster = new SimCluster({ nodes: 3, seed: 5, latencyUs: 40 });
    await converge(cluster);
    await cluster.clock.runFor(2_000_000);
    const monitor = cluster.node(nodeIn(cluster, 'monitor'));
    const status = await monitor.agent!.status();
    expect(status.phase).to.equal('monitor');
    expect(status.held).to.deep.equal(['198.18.0.9/24']);
    expect(status.epoch).to.be.above(0);
    expect(status.rttUs.median).to.equal(80); // two simulated hops of 40 µs
    expect(status.probes.replies).to.be.above(150);
    expect(status.holder).to.equal(nodeIn(cluster, 'primary'));
    expect(status.transitions.at(-1)?.to).to.equal('monitor');
    expect(JSON.stringify(status)).to.not.match(/pass(word)?_?file|\.pass/);
  });

  it('ignores echo replies from strangers, with foreign identifiers or unknown sequences', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 9 });
    await converge(cluster);
    const monitor = cluster.node(nodeIn(cluster, 'monitor'));
    const primary = nodeIn(cluster, 'primary');
    const primaryIp = SIM_PRIMARY.split('/')[0] ?? '';
    // Silence the primary (link cut), then flood the monitor with replies that must not
    // count: a stranger's address, a foreign identifier, a sequence never sent.
    cluster.node(primary).host.setCable(false);
    const icmp = monitor.icmp!;
    const run = icmp.sentRequests.filter((r) => r.target === primaryIp).at(-1)?.identifier ?? -1;
    const before = (await monitor.agent!.status()).probes.foreignReplies;
    for (let i = 0; i < 50; i++) {
      const receivedUs = cluster.clock.nowUs();
      icmp.inject({ from: '198.18.0.77', identifier: run, sequence: i + 1, receivedUs });
      icmp.inject({ from: primaryIp, identifier: run ^ 0x0100, sequence: i + 1, receivedUs });
      icmp.inject({ from: primaryIp, identifier: run, sequence: 60000 + i, receivedUs });
    }
    await cluster.clock.runFor(1_000_000);
    const status = await monitor.agent!.status();
    // The probe run's own identifier with sequences it never sent: counted, never answers.
    expect(status.probes.foreignReplies - before).to.be.at.least(50);
    // The replies did not hide the silence: the monitor fenced the primary and took over.
    expect(cluster.phases()[monitor.name]).to.equal('primary');
    expect(cluster.node(primary).bmc.commands.map((c) => c.command)).to.include('off');
  });

  it('a failed persist halts the agent holding nothing', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 3 });
    await converge(cluster);
    const monitor = cluster.node(nodeIn(cluster, 'monitor'));
    const primary = nodeIn(cluster, 'primary');
    monitor.store.failSaves = true;
    cluster.powerOff(primary);
    await cluster.clock.runFor(2_000_000);
    expect(cluster.phases()[monitor.name]).to.equal('halted');
    expect(cluster.primaryHolders()).to.deep.equal([]);
    expect(monitor.log.all().some((l) => l.event === 'persist-failed')).to.equal(true);
  });

  for (const peers of [false, true]) {
    it(`a primary whose health check fails gives up; the monitor takes over ${peers ? 'without a power cut (the release is heard)' : 'through the fence (no peer protocol)'}`, async () => {
      const cluster = new SimCluster({
        nodes: 3,
        seed: 21,
        peers,
        config: { health: { command: 'check-service', interval_ms: 100, fails: 3 } },
      });
      await converge(cluster);
      const primary = cluster.node(nodeIn(cluster, 'primary'));
      const monitor = nodeIn(cluster, 'monitor');
      primary.healthy = false;
      await cluster.clock.runFor(2_000_000);
      expect(cluster.primaryHolders()).to.deep.equal([monitor]);
      expect(
        primary.log
          .all()
          .some((l) => l.event === 'transition' && l.message.includes('service health check failed 3 times')),
      ).to.equal(true);
      const took = cluster.node(monitor).agent!.transitions().at(-1);
      const handover = primary.log.all().filter((l) => l.event.startsWith('handover'));
      if (peers) {
        expect(primary.bmc.commands).to.deep.equal([]);
        expect(took?.reason).to.contain('after its authenticated release');
        // The step-down's acknowledgement: the monitor's heartbeat, holding the address.
        expect(handover.map((l) => [l.event, l.fields['taker']])).to.deep.equal([['handover-acked', monitor]]);
      } else {
        expect(handover).to.deep.equal([]);
        expect(primary.bmc.commands.map((c) => c.command)).to.include('off');
      }
    });
  }

  it('a primary that steps down while no monitor can claim logs handover-unacked (an error) within 3 s', async () => {
    const cluster = new SimCluster({
      nodes: 3,
      seed: 21,
      peers: true,
      config: { health: { command: 'check-service', interval_ms: 100, fails: 3 } },
    });
    await converge(cluster);
    const primary = cluster.node(nodeIn(cluster, 'primary'));
    // The monitor's agent dies; its kernel keeps the monitor address, so no spare steps in.
    cluster.killAgent(nodeIn(cluster, 'monitor'));
    primary.healthy = false;
    await cluster.clock.runFor(5_000_000);
    const handover = primary.log.all().filter((l) => l.event.startsWith('handover'));
    expect(handover.map((l) => [l.event, l.level])).to.deep.equal([['handover-unacked', 'error']]);
    expect(handover[0]?.fields['afterMs']).to.be.a('number').at.most(3000);
    expect(cluster.primaryHolders()).to.deep.equal([]);
  });

  it('a health command that never answers is a failed check, and the next check still runs', async () => {
    const cluster = new SimCluster({
      nodes: 3,
      seed: 21,
      config: { health: { command: 'check-service', interval_ms: 100, fails: 3 } },
    });
    await converge(cluster);
    const primary = cluster.node(nodeIn(cluster, 'primary'));
    const monitor = nodeIn(cluster, 'monitor');
    let runs = 0;
    // A runner that hangs: its promise never settles (a command whose limit failed to end it).
    primary.commands = { run: () => (runs++, new Promise(() => undefined)) };
    await cluster.clock.runFor(10_000_000);
    const failures = primary.log.all().filter((l) => l.event === 'health-failed');
    expect(runs).to.be.at.least(3);
    expect(failures.map((l) => l.message)).to.have.length.at.least(3);
    expect(failures[0]?.message).to.include('no answer within');
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
  });

  it('transitions go to the console, one line each', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 1 });
    await converge(cluster);
    const lines = [...cluster.nodes.values()].flatMap((n) => n.log.all().filter((l) => l.event === 'transition'));
    expect(lines.length).to.be.above(3);
    for (const l of lines) expect(l.message).to.match(/^[a-z-]+ -> [a-z-]+: /);
  });
});

describe('agent operator interface (simulated drivers)', () => {
  it('probe ADDR COUNT measures RTTs in µs without touching the monitoring counters', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 4, latencyUs: 30 });
    await converge(cluster);
    const monitor = cluster.node(nodeIn(cluster, 'monitor')).agent!;
    const before = (await monitor.status()).probes.replies;
    const probing = monitor.probe('198.18.0.10', 3, 100);
    await cluster.clock.runFor(1_000_000);
    const results = await probing;
    expect(results.map((r) => r.rttUs)).to.deep.equal([60, 60, 60]);
    const silent = monitor.probe('198.18.0.99', 2, 100);
    await cluster.clock.runFor(1_000_000);
    expect((await silent).map((r) => r.rttUs)).to.deep.equal([null, null]);
    // Monitoring went on meanwhile; manual replies are not counted as monitoring replies.
    expect((await monitor.status()).probes.foreignReplies).to.equal(0);
    expect((await monitor.status()).probes.replies).to.be.above(before);
  });

  it('operator promote on the monitor fences the primary and takes over; demote on a monitor is refused', async () => {
    const cluster = new SimCluster({ nodes: 3, seed: 8 });
    await converge(cluster);
    const monitorName = nodeIn(cluster, 'monitor');
    const primaryName = nodeIn(cluster, 'primary');
    const monitor = cluster.node(monitorName).agent!;
    expect(monitor.command('demote')).to.include({ accepted: false });
    expect(monitor.command('promote')).to.include({ accepted: true });
    await cluster.clock.runFor(1_000_000);
    expect(cluster.primaryHolders()).to.deep.equal([monitorName]);
    expect(
      cluster
        .node(primaryName)
        .bmc.commands.map((c) => c.command)
        .slice(0, 2),
    ).to.deep.equal(['off', 'status']);
  });

  it('maintenance on the monitor: a dead primary is not fenced until maintenance ends', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 12 });
    await converge(cluster);
    const monitorName = nodeIn(cluster, 'monitor');
    const primaryName = nodeIn(cluster, 'primary');
    const monitor = cluster.node(monitorName).agent!;
    monitor.command('maintenance-on');
    cluster.powerOff(primaryName);
    await cluster.clock.runFor(2_000_000);
    expect(cluster.node(primaryName).bmc.commands).to.deep.equal([]);
    expect(cluster.primaryHolders()).to.deep.equal([]);
    monitor.command('maintenance-off');
    await cluster.clock.runFor(1_000_000);
    expect(cluster.primaryHolders()).to.deep.equal([monitorName]);
  });

  it('operator fence refuses this server and unknown members', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 2 });
    await converge(cluster);
    const monitorName = nodeIn(cluster, 'monitor');
    const agent = cluster.node(monitorName).agent!;
    for (const target of [monitorName, 'zz']) {
      try {
        await agent.fenceMember(target);
        expect.fail(`fenced ${target}`);
      } catch (error) {
        expect(String(error)).to.match(/refusing to fence this server itself|no member named/);
      }
    }
  });
});
