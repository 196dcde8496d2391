/**
 * End-to-end failover in the lab: real agents in network namespaces, real ipmi_sim BMCs
 * driven with ipmitool, a 1 ms observer. Verdicts come from ground truth — `ip -n NS addr`
 * on every server, the recorded address and link events, the observer's replies and the
 * BMCs' power log — not from what the agents say. Needs root.
 */
import { expect } from 'chai';
import { startLab } from '../../scripts/lab/lab.js';
import type { Lab, LabOptions } from '../../scripts/lab/lab.js';
import { agentLog, clusterPicture, converged, monoUs, roles, sleep } from './fixtures.js';

const FAST = {
  probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
  boot: { jitter_ms: 200, check_ms: 50 },
  fencing: { retry_ms: 300, retry_max_ms: 2000 },
};

describe('lab: end-to-end failover (real agents, ipmi_sim, namespaces)', function () {
  this.timeout(180_000);
  let lab: Lab | null = null;

  async function start(options: LabOptions = {}): Promise<Lab> {
    lab = await startLab({ ...options, config: { ...FAST, ...(options.config ?? {}) } });
    return lab;
  }

  /** Scenario 6, in every scenario: never two servers holding the primary address with links up. */
  function expectNoSplitBrain(l: Lab): void {
    const violations = l.splitBrainViolations();
    expect(violations, JSON.stringify(violations)).to.deep.equal([]);
  }

  afterEach(async function () {
    if (lab !== null && this.currentTest?.state === 'failed') {
      for (const name of lab.serverNames()) {
        const tail = agentLog(lab, name)
          .filter((l) => l.event === 'transition' || l.level === 'error' || l.level === 'warn')
          .slice(-8);
        console.log(`    ${name}: ${tail.map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
    }
    await lab?.stop();
    lab = null;
  });

  it('1. three servers booted together: exactly one primary, one monitor, one spare', async () => {
    const l = await start();
    const r = await converged(l);
    expect(r.spares).to.have.length(1);
    const h = await l.holders();
    const spare = r.spares[0] ?? '';
    expect(h.servers[spare]?.addresses).to.not.include('198.18.0.10/24');
    expect(h.servers[spare]?.addresses).to.not.include('198.18.0.9/24');
    // The observer reaches the primary address, and the answers come from the primary.
    const reply = await l.observer!.waitForReply(() => true, 5000, monoUs() - 1_000_000);
    expect(l.serverByTtl(reply.ttl)).to.equal(r.primary);
    // What a convergence failure would print: the holders and each agent's last transitions.
    const picture = await clusterPicture(l);
    expect(picture).to.contain(`holders: primary [${r.primary}]`);
    expect(picture).to.contain(' transition: ');
    for (const name of l.serverNames()) expect(picture).to.match(new RegExp(`  ${name}:\\n    -\\d+ ms [a-z-]+: `));
    expectNoSplitBrain(l);
  });

  it('2. the primary loses power: the monitor fences it, takes over; the old primary rejoins', async () => {
    const l = await start();
    const before = await converged(l);
    await l.observer!.waitForReply(() => true, 5000, monoUs());
    const crashUs = monoUs();
    await l.crash(before.primary);
    const after = await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor ? h : null;
      },
      10_000,
      'the monitor holding the primary address',
    );
    expect(after.primaryUp).to.deep.equal([before.monitor]);
    // The fence went through the old primary's BMC (ipmitool -> ipmi_sim -> chassis program):
    // its power was already off (ipmi_sim does not switch an off chassis off again), and
    // after the takeover the new primary powered it on through the BMC.
    const onByBmc = await l.waitFor(
      () =>
        l.powerLog.find((p) => p.server === before.primary && p.source === 'bmc' && p.on && p.requestedUs > crashUs),
      5000,
      'power on through the BMC',
    );
    expect(onByBmc.requestedUs).to.be.above(crashUs);
    // The observer saw the outage and then replies from the new primary.
    const reply = await l.observer!.waitForReply((r) => l.serverByTtl(r.ttl) === before.monitor, 5000, crashUs);
    const gap = l.observer!.outage(crashUs - 200_000, reply.t + 1000);
    expect(gap.open).to.equal(false);
    expect(gap.gapUs).to.be.above(0).and.below(3_000_000);
    // Off-on fencing powers the old primary on again once the address is taken; it boots,
    // finds the primary address taken and becomes the monitor or a spare.
    const rejoined = await l.waitFor(
      async () => {
        const r = await roles(l);
        return r !== null &&
          r.primary === before.monitor &&
          l.isPowered(before.primary) &&
          l.get(before.primary).agent !== null
          ? r
          : null;
      },
      20_000,
      'the old primary back',
    );
    expect([rejoined.monitor, ...rejoined.spares]).to.include(before.primary);
    await converged(l);
    expectNoSplitBrain(l);
    console.log(`      outage seen by the observer: ${(gap.gapUs / 1000).toFixed(1)} ms`);
  });

  it('3. a hung primary agent (SIGSTOP) keeps answering and is not taken over; a cut link is', async () => {
    const l = await start();
    const before = await converged(l);
    // The agent is frozen but the kernel still answers ICMP and holds the address: the
    // monitor sees a live primary, so no failover (the service itself is the health
    // check's business). This is the documented behaviour.
    const hangUs = monoUs();
    l.hang(before.primary);
    await sleep(2000);
    const during = await roles(l);
    expect(during).to.deep.include({ primary: before.primary, monitor: before.monitor });
    expect(l.observer!.outage(hangUs).gapUs).to.be.below(500_000);
    await l.restore(before.primary, 'hang');
    // Now the link: cut while the agent runs. The primary drops its addresses on link down;
    // the monitor sees the silence, fences it (power off through the BMC) and takes over.
    await l.cut(before.primary);
    await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor;
      },
      10_000,
      'the monitor taking over from the cut primary',
    );
    await l.restore(before.primary, 'cut');
    await converged(l, 25_000);
    const r = await roles(l);
    expect(r?.primary).to.equal(before.monitor);
    expectNoSplitBrain(l);
  });

  it('4a. BMC down and the primary crashes, fencing required: no takeover, and a loud log', async () => {
    const l = await start();
    const before = await converged(l);
    l.bmcDown(before.primary);
    await l.crash(before.primary);
    await sleep(6000);
    const h = await l.holders();
    expect(h.primary).to.deep.equal([]);
    expect(h.monitorUp).to.deep.equal([before.monitor]);
    const errors = agentLog(l, before.monitor).filter((x) => x.event === 'fence-failed' && x.level === 'error');
    expect(errors.length).to.be.at.least(2);
    expect(errors[0]?.message).to.contain('NOT taking over');
    expectNoSplitBrain(l);
  });

  it('4b. BMC down and the primary crashes, fencing not required: takeover', async () => {
    const l = await start({ config: { fencing: { required: false } } });
    const before = await converged(l);
    l.bmcDown(before.primary);
    await l.crash(before.primary);
    await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor;
      },
      15_000,
      'takeover without a fence',
    );
    // The agent logs the transition after it announced the address: wait for the line.
    await l.waitFor(
      () => agentLog(l, before.monitor).some((x) => x.event === 'transition' && x.message.includes('without a fence')),
      3000,
      'the takeover logged as without a fence',
      50,
    );
    expectNoSplitBrain(l);
  });

  it('5. the monitor crashes: the spare becomes monitor; the primary serves with no outage', async () => {
    const l = await start();
    const before = await converged(l);
    const spare = before.spares[0] ?? '';
    const crashUs = monoUs();
    await l.crash(before.monitor);
    await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.monitorUp.length === 1 && h.monitorUp[0] === spare;
      },
      15_000,
      'the spare claiming the monitor address',
    );
    const h = await l.holders();
    expect(h.primaryUp).to.deep.equal([before.primary]);
    // No outage: the observer's largest gap stays at scheduling noise (1 ms pings).
    const gap = l.observer!.outage(crashUs);
    expect(gap.gapUs).to.be.below(100_000);
    expectNoSplitBrain(l);
  });
});
