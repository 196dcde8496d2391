import { expect } from 'chai';
import { nextPollUs, quickPolls } from '../../../src/agent/power.js';
import { SimCluster } from '../../../src/sim/cluster.js';
import type { SimOptions } from '../../../src/sim/cluster.js';

/**
 * The confirmed fence against slow BMCs (virtual time): the BMC acknowledges power off at
 * once and cuts the power `offDelayUs` later; the monitor polls the power state every
 * `fencing.power_poll_ms` until it reads off, for at most `fencing.power_timeout_ms`.
 * The primary's LAN cable is cut, so it stays powered until the BMC really switches it off.
 */

const MS = 1000;
const SECOND = 1_000_000;
/** BMC response time, small against the poll interval so the interval is what is measured. */
const LATENCY_US = 5 * MS;
const POLL_MS = 20;
/** fencing.power_resend_ms's default. */
const RESEND_US = 5 * SECOND;

interface Scene {
  cluster: SimCluster;
  oldPrimary: string;
  monitor: string;
  cutUs: number;
}

async function runUntil(
  cluster: SimCluster,
  done: () => boolean,
  limitUs: number,
  stepUs = MS,
): Promise<number | null> {
  const end = cluster.clock.nowUs() + limitUs;
  while (cluster.clock.nowUs() < end) {
    if (done()) return cluster.clock.nowUs();
    await cluster.clock.runFor(stepUs);
  }
  return done() ? cluster.clock.nowUs() : null;
}

function phaseHolder(cluster: SimCluster, phase: string): string {
  const name = Object.entries(cluster.phases()).find(([, p]) => p === phase)?.[0];
  if (name === undefined) throw new Error(`nobody is ${phase}: ${JSON.stringify(cluster.phases())}`);
  return name;
}

/**
 * A converged 3-server cluster whose primary's cable is then cut (it stays powered). Peer
 * heartbeats are off: with them, the cut-off primary says (on the management path) that it
 * released the address, and the monitor takes over without a fence; these tests are about
 * the fence.
 */
async function cutPrimary(offDelayUs: number, options: Partial<SimOptions> = {}): Promise<Scene> {
  const cluster = new SimCluster({
    nodes: 3,
    seed: 21,
    peers: false,
    ...options,
    config: { fencing: { power_poll_ms: POLL_MS }, ...(options.config ?? {}) },
  });
  for (const node of cluster.nodes.values()) {
    node.bmc.latencyUs = LATENCY_US;
    node.bmc.offDelayUs = offDelayUs;
  }
  await cluster.bootAll();
  expect(await runUntil(cluster, () => cluster.converged(), 10 * SECOND)).to.not.equal(null);
  await cluster.clock.runFor(SECOND);
  const oldPrimary = phaseHolder(cluster, 'primary');
  const monitor = phaseHolder(cluster, 'monitor');
  const cutUs = cluster.clock.nowUs();
  cluster.node(oldPrimary).host.setCable(false);
  return { cluster, oldPrimary, monitor, cutUs };
}

function events(
  cluster: SimCluster,
  node: string,
  event: string,
): Array<{ atUs: number; fields: Record<string, unknown>; message: string }> {
  return cluster
    .node(node)
    .log.all()
    .filter((l) => l.event === event)
    .map((l) => ({ atUs: l.atUs, fields: l.fields as Record<string, unknown>, message: l.message }));
}

function takeoverUs(cluster: SimCluster, node: string): number | null {
  const t = cluster
    .node(node)
    .agent?.transitions()
    .find((x) => x.from === 'confirming' && x.to === 'primary');
  return t?.atUs ?? null;
}

describe('confirmed fence against a BMC that powers off late (virtual time)', function () {
  this.timeout(60_000);

  for (const offDelayS of [2, 6]) {
    // Past fencing.power_resend_ms (5 s by default) the off is sent again; a BMC that is
    // still carrying out the first one ignores it, so the takeover time is the same.
    const sends = offDelayS * SECOND >= RESEND_US ? 2 : 1;
    it(`off-on, power off ${offDelayS} s after the acknowledgement: ${sends} off, polls every ${POLL_MS} ms, takeover once the power is off`, async () => {
      const offDelayUs = offDelayS * SECOND;
      const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs);
      const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, offDelayUs + 5 * SECOND);
      expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);

      const bmc = cluster.node(oldPrimary).bmc;
      const sinceCut = bmc.commands.filter((c) => c.atUs >= cutUs);
      expect(sinceCut.filter((c) => c.command === 'off')).to.have.length(sends);
      expect(events(cluster, monitor, 'fence-resent').map((e) => e.fields['why'])).to.deep.equal(
        sends === 2 ? ['still-on'] : [],
      );
      const offAckUs = sinceCut.find((c) => c.command === 'off')?.atUs ?? 0;
      // Ground truth: the power went off offDelayUs after the acknowledgement, and the
      // takeover came after that, never before.
      const cut = bmc.powerChanges.find((p) => !p.on && p.atUs >= cutUs);
      expect(cut?.atUs).to.equal(offAckUs + offDelayUs);
      const takeover = takeoverUs(cluster, monitor) ?? 0;
      expect(takeover).to.be.above(cut?.atUs ?? Infinity);

      // One fence, no failure, no retry.
      expect(events(cluster, monitor, 'fence-start')).to.have.length(1);
      expect(events(cluster, monitor, 'fence-error')).to.deep.equal([]);
      expect(events(cluster, monitor, 'fence-failed')).to.deep.equal([]);
      const [done] = events(cluster, monitor, 'fence-done');
      const offUs = Number(done?.fields['offUs']);
      const polls = Number(done?.fields['polls']);
      // The off took the BMC's delay plus at most one poll interval and the round trips.
      expect(offUs).to.be.at.least(offDelayUs + LATENCY_US);
      expect(offUs).to.be.at.most(offDelayUs + LATENCY_US + POLL_MS * MS + LATENCY_US);
      // Polled at the configured interval: neither back to back nor slower.
      const expected = offDelayUs / (POLL_MS * MS);
      expect(polls).to.be.within(expected - 1, expected + 2);
      expect(sinceCut.filter((c) => c.command === 'status' && c.atUs <= (done?.atUs ?? 0))).to.have.length(polls);
      expect(done?.message).to.match(
        new RegExp(`power off confirmed [0-9.]+ ms after power off .*${polls} status polls`),
      );
      expect(cluster.primaryHolders()).to.deep.equal([monitor]);
      await cluster.stop();
    });
  }

  it('cycle, power off 2 s after the acknowledgement: one cycle command, confirmed by a poll reading off', async () => {
    const offDelayUs = 2 * SECOND;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs, {
      board: { bmc: { power_cycle: 'cycle' } },
    });
    const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, 8 * SECOND);
    expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);
    const bmc = cluster.node(oldPrimary).bmc;
    const commands = bmc.commands.filter((c) => c.atUs >= cutUs).map((c) => c.command);
    expect(commands.filter((c) => c === 'cycle')).to.have.length(1);
    expect(commands).to.not.include('off');
    const cut = bmc.powerChanges.find((p) => !p.on && p.atUs >= cutUs);
    expect(takeoverUs(cluster, monitor)).to.be.above(cut?.atUs ?? Infinity);
    // The BMC's own on follows cycleDelayUs after the power went off.
    await cluster.clock.runFor(2 * SECOND);
    const on = bmc.powerChanges.find((p) => p.on && p.atUs >= cutUs);
    expect(on?.atUs).to.equal((cut?.atUs ?? 0) + bmc.cycleDelayUs);
    await cluster.stop();
  });

  it('a monitor frozen while the power was off, the server then powered on by someone else: the off is sent again, takeover without waiting for power_timeout_ms', async () => {
    const offDelayUs = 2 * SECOND;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs);
    const bmc = cluster.node(oldPrimary).bmc;
    // Freeze the monitor as soon as its BMC acknowledged the off.
    expect(
      await runUntil(cluster, () => bmc.commands.some((c) => c.command === 'off' && c.atUs >= cutUs), 2 * SECOND),
    ).to.not.equal(null);
    cluster.node(monitor).host.freeze();
    // The power goes off while the monitor is frozen; then someone powers the server on again.
    expect(await runUntil(cluster, () => !cluster.node(oldPrimary).host.powered, offDelayUs + SECOND)).to.not.equal(
      null,
    );
    await cluster.clock.runFor(500 * MS);
    cluster.powerOn(oldPrimary);
    await cluster.clock.runFor(500 * MS);
    const thawUs = cluster.clock.nowUs();
    cluster.node(monitor).host.thaw();

    const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, 10 * SECOND);
    expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);
    // One fence: the off went out again after the blind spell, and the takeover followed the
    // second power off, long before the 20 s power_timeout_ms.
    const [resent] = events(cluster, monitor, 'fence-resent');
    expect(resent?.fields['target']).to.equal(oldPrimary);
    expect(resent?.fields['why']).to.equal('blind');
    expect(Number(resent?.fields['forUs'])).to.be.above(SECOND);
    expect(events(cluster, monitor, 'fence-start')).to.have.length(1);
    expect(events(cluster, monitor, 'fence-error')).to.deep.equal([]);
    const offs = bmc.commands.filter((c) => c.command === 'off' && c.atUs >= cutUs);
    expect(offs).to.have.length(2);
    const secondOff = bmc.powerChanges.filter((p) => !p.on && p.atUs >= thawUs);
    expect(secondOff).to.have.length(1);
    expect(takeoverUs(cluster, monitor)).to.be.above(secondOff[0]?.atUs ?? Infinity);
    expect(takeoverUs(cluster, monitor)).to.be.below(thawUs + offDelayUs + SECOND);
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
    await cluster.stop();
  });

  it('the server powered on again by someone else before any poll read it off: the off is sent again at fencing.power_resend_ms, takeover long before power_timeout_ms', async () => {
    const offDelayUs = 2 * SECOND;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs);
    const bmc = cluster.node(oldPrimary).bmc;
    // Power the server on again in the same millisecond that its BMC cut it: no poll (every
    // 20 ms) can read it off, and the monitor was never blind.
    expect(
      await runUntil(cluster, () => !cluster.node(oldPrimary).host.powered, offDelayUs + SECOND, 100),
    ).to.not.equal(null);
    const onAgainUs = cluster.clock.nowUs();
    cluster.powerOn(oldPrimary);
    expect(bmc.commands.filter((c) => c.command === 'status' && c.atUs >= onAgainUs - MS)).to.deep.equal([]);

    const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, 12 * SECOND);
    expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);
    const resent = events(cluster, monitor, 'fence-resent');
    expect(resent.map((e) => e.fields['why'])).to.deep.equal(['still-on']);
    expect(Number(resent[0]?.fields['forUs'])).to.be.at.least(RESEND_US);
    const offs = bmc.commands.filter((c) => c.command === 'off' && c.atUs >= cutUs);
    expect(offs).to.have.length(2);
    expect((offs[1]?.atUs ?? 0) - (offs[0]?.atUs ?? 0)).to.be.within(
      RESEND_US,
      RESEND_US + POLL_MS * MS + 2 * LATENCY_US,
    );
    // The takeover followed the second, real power off, within one fence (no fence-error).
    const secondOff = bmc.powerChanges.filter((p) => !p.on && p.atUs > onAgainUs);
    expect(secondOff).to.have.length(1);
    expect(takeoverUs(cluster, monitor)).to.be.above(secondOff[0]?.atUs ?? Infinity);
    expect(events(cluster, monitor, 'fence-start')).to.have.length(1);
    expect(events(cluster, monitor, 'fence-error')).to.deep.equal([]);
    expect(cluster.primaryHolders()).to.deep.equal([monitor]);
    await cluster.stop();
  });

  it('fencing.power_resend_ms 0: the off is never sent again; the fence fails at power_timeout_ms', async () => {
    const offDelayUs = 2 * SECOND;
    const timeoutMs = 6000;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs, {
      config: { fencing: { power_poll_ms: POLL_MS, power_resend_ms: 0, power_timeout_ms: timeoutMs } },
    });
    const bmc = cluster.node(oldPrimary).bmc;
    expect(
      await runUntil(cluster, () => !cluster.node(oldPrimary).host.powered, offDelayUs + SECOND, 100),
    ).to.not.equal(null);
    cluster.powerOn(oldPrimary);
    await runUntil(cluster, () => events(cluster, monitor, 'fence-error').length > 0, timeoutMs * MS + SECOND);
    expect(events(cluster, monitor, 'fence-resent')).to.deep.equal([]);
    expect(events(cluster, monitor, 'fence-error')[0]?.message).to.contain('power still on');
    expect(bmc.commands.filter((c) => c.command === 'off' && c.atUs >= cutUs)).to.have.length(1);
    await cluster.stop();
  });

  it('a BMC whose every answer takes 1.5 s is slow, not blind: one off, no resend, takeover once the power is off', async () => {
    const offDelayUs = 4 * SECOND;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs, {
      config: { fencing: { power_poll_ms: POLL_MS } },
    });
    for (const node of cluster.nodes.values()) node.bmc.latencyUs = 1500 * MS;
    const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, offDelayUs + 12 * SECOND);
    expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);
    expect(events(cluster, monitor, 'fence-resent')).to.deep.equal([]);
    const offs = cluster.node(oldPrimary).bmc.commands.filter((c) => c.command === 'off' && c.atUs >= cutUs);
    expect(offs).to.have.length(1);
    await cluster.stop();
  });

  it('a BMC that never powers off: the fence fails at fencing.power_timeout_ms, no takeover (fencing required)', async () => {
    const timeoutMs = 3000;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(Number.MAX_SAFE_INTEGER / 4, {
      config: { fencing: { power_poll_ms: POLL_MS, power_timeout_ms: timeoutMs, retry_ms: 500, retry_max_ms: 1000 } },
    });
    await cluster.clock.runFor(12 * SECOND);
    expect(cluster.primaryHolders()).to.deep.equal([]);
    expect(cluster.phases()[monitor]).to.equal('monitor');
    expect(takeoverUs(cluster, monitor)).to.equal(null);
    expect(cluster.node(oldPrimary).host.powered).to.equal(true);

    const errors = events(cluster, monitor, 'fence-error');
    expect(errors.length).to.be.at.least(2);
    const first = errors[0];
    expect(first?.message).to.contain('power still on').and.contain('fencing.power_timeout_ms is 3000');
    // Failed at the timeout (counted from the acknowledgement), not at the first "on".
    const tookUs = Number(first?.fields['tookUs']);
    expect(tookUs).to.be.at.least(LATENCY_US + timeoutMs * MS);
    expect(tookUs).to.be.at.most(LATENCY_US + timeoutMs * MS + 2 * LATENCY_US);
    const failed = events(cluster, monitor, 'fence-failed');
    expect(failed[0]?.message).to.contain('NOT taking over');
    // Each attempt sent one off; the BMC never cut the power.
    const offs = cluster.node(oldPrimary).bmc.commands.filter((c) => c.command === 'off' && c.atUs >= cutUs);
    expect(offs).to.have.length(events(cluster, monitor, 'fence-start').length);
    expect(cluster.node(oldPrimary).bmc.powerChanges.filter((p) => p.atUs >= cutUs)).to.deep.equal([]);
    await cluster.stop();
  });

  it('an on while an off is pending does not cancel it: the power goes off, then on a cycle interval later', async () => {
    const cluster = new SimCluster({ nodes: 2, seed: 3 });
    const bmc = cluster.node('a').bmc;
    bmc.offDelayUs = 4 * SECOND;
    const deliver = (fn: () => void): void => fn();
    const startUs = cluster.clock.nowUs();
    const off = bmc.request('off', deliver, () => undefined);
    await cluster.clock.runFor(100 * MS);
    await off;
    expect(bmc.offPending).to.equal(true);
    const status = bmc.request('status', deliver, () => bmc.chassis.power());
    await cluster.clock.runFor(100 * MS);
    expect(await status).to.equal('on');
    const on = bmc.request('on', deliver, () => undefined);
    await cluster.clock.runFor(100 * MS);
    await on;
    await cluster.clock.runFor(6 * SECOND);
    expect(bmc.powerChanges).to.deep.equal([
      { atUs: startUs + bmc.latencyUs + 4 * SECOND, on: false },
      { atUs: startUs + bmc.latencyUs + 4 * SECOND + bmc.cycleDelayUs, on: true },
    ]);
    expect(bmc.offPending).to.equal(false);
  });
});

describe("quick status polls around the board's bmc.power_off_ms", function () {
  this.timeout(60_000);
  const QUICK_MS = 5;

  it('quickPolls: none without the board figure, with 0, or when not quicker than power_poll_ms', () => {
    expect(quickPolls(null, QUICK_MS, POLL_MS)).to.equal(null);
    expect(quickPolls(4000, 0, POLL_MS)).to.equal(null);
    expect(quickPolls(4000, POLL_MS, POLL_MS)).to.equal(null);
    expect(quickPolls(4000, QUICK_MS, POLL_MS)).to.deep.equal({ pollMs: QUICK_MS, fromMs: 2900, toMs: 6100 });
    expect(quickPolls(0, QUICK_MS, POLL_MS)).to.deep.equal({ pollMs: QUICK_MS, fromMs: 0, toMs: 100 });
  });

  it('nextPollUs: normal before and after the window, at its start when it opens first, quick inside', () => {
    const quick = { pollMs: QUICK_MS, fromMs: 100, toMs: 200 };
    const poll = POLL_MS * MS;
    expect(nextPollUs(50 * MS, 0, poll, quick)).to.equal(70 * MS);
    expect(nextPollUs(90 * MS, 0, poll, quick)).to.equal(100 * MS);
    expect(nextPollUs(98 * MS, 0, poll, quick)).to.equal(103 * MS);
    expect(nextPollUs(150 * MS, 0, poll, quick)).to.equal(155 * MS);
    expect(nextPollUs(199 * MS, 0, poll, quick)).to.equal(204 * MS);
    expect(nextPollUs(200 * MS, 0, poll, quick)).to.equal(220 * MS);
    expect(nextPollUs(150 * MS, 0, poll, null)).to.equal(170 * MS);
    // The window is counted from the acknowledgement.
    expect(nextPollUs(1150 * MS, 1000 * MS, poll, quick)).to.equal(1155 * MS);
  });

  it('the BMC cuts near its stated 2 s: read off within one quick poll and the round trips, normal polls before the window', async () => {
    // 10 ms past a normal poll's phase here, so a normal poll would read it off 10 ms late.
    const offDelayUs = 2 * SECOND + 10 * MS;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs, {
      board: { bmc: { power_off_ms: 2000 } },
      config: { fencing: { power_poll_ms: POLL_MS, power_poll_quick_ms: QUICK_MS } },
    });
    const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, offDelayUs + 5 * SECOND);
    expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);
    const [done] = events(cluster, monitor, 'fence-done');
    const offUs = Number(done?.fields['offUs']);
    // Command round trip, the BMC's delay, at most one quick interval, a status round trip.
    expect(offUs).to.be.at.least(offDelayUs + LATENCY_US);
    expect(offUs).to.be.at.most(offDelayUs + LATENCY_US + QUICK_MS * MS + LATENCY_US);
    const commands = cluster.node(oldPrimary).bmc.commands.filter((c) => c.atUs >= cutUs);
    const ackUs = commands.find((c) => c.command === 'off')?.atUs ?? 0;
    const statuses = commands.filter((c) => c.command === 'status').map((c) => c.atUs - ackUs);
    // Before the window (3/4 T - 100 ms = 1400 ms) every 20 ms; inside it back to back with
    // this 5 ms BMC, each poll starting no sooner than 5 ms after the one before.
    const before = statuses.filter((t) => t < 1400 * MS);
    expect(before.length).to.be.within(1400 / POLL_MS - 1, 1400 / POLL_MS + 1);
    const inside = statuses.filter((t) => t >= 1400 * MS + LATENCY_US);
    for (const [i, t] of inside.entries()) if (i > 0) expect(t - (inside[i - 1] ?? 0)).to.be.at.least(QUICK_MS * MS);
    expect(inside.length).to.be.within(610 / QUICK_MS - 2, 610 / QUICK_MS + 2);
    await cluster.stop();
  });

  it('a BMC much slower than stated (5 s for 2 s): back to power_poll_ms after the window', async () => {
    const offDelayUs = 5 * SECOND;
    const { cluster, oldPrimary, monitor, cutUs } = await cutPrimary(offDelayUs, {
      board: { bmc: { power_off_ms: 2000 } },
      config: { fencing: { power_poll_ms: POLL_MS, power_poll_quick_ms: QUICK_MS, power_resend_ms: 0 } },
    });
    const taken = await runUntil(cluster, () => takeoverUs(cluster, monitor) !== null, offDelayUs + 5 * SECOND);
    expect(taken, `no takeover: ${JSON.stringify(cluster.phases())}`).to.not.equal(null);
    const commands = cluster.node(oldPrimary).bmc.commands.filter((c) => c.atUs >= cutUs);
    const ackUs = commands.find((c) => c.command === 'off')?.atUs ?? 0;
    const statuses = commands.filter((c) => c.command === 'status').map((c) => c.atUs - ackUs);
    // After 3/2 T + 100 ms = 3100 ms: every 20 ms until the off at 5 s.
    const after = statuses.filter((t) => t > 3100 * MS + POLL_MS * MS);
    expect(after.length).to.be.within((5000 - 3120) / POLL_MS - 1, (5000 - 3120) / POLL_MS + 2);
    const [done] = events(cluster, monitor, 'fence-done');
    expect(Number(done?.fields['offUs'])).to.be.at.most(offDelayUs + LATENCY_US + POLL_MS * MS + LATENCY_US);
    await cluster.stop();
  });
});
