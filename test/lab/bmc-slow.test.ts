/**
 * A slow BMC in the lab: real agents, real ipmi_sim BMCs whose chassis program acknowledges
 * power off at once and cuts the power ~2 s later (LabOptions.bmcOffDelayMs), like x86 BMCs
 * holding the power button. The primary's LAN cable is cut, so it stays powered until its
 * BMC really switches it off. Verdicts from ground truth: the harness's power log (when the
 * BMC acknowledged the off, when the power really went) and the recorded address events;
 * the agent's log only for its own account (polls, retries). Needs root.
 */
import { expect } from 'chai';
import { startLab } from '../../scripts/lab/lab.js';
import type { Lab, PowerTiming } from '../../scripts/lab/lab.js';
import type { AgentLine } from './fixtures.js';
import { agentLog, converged, monoUs } from './fixtures.js';

const OFF_DELAY_MS = 2000;
const PRIMARY = '198.18.0.10/24';
const FAST = {
  probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
  boot: { jitter_ms: 200, check_ms: 50 },
  fencing: { retry_ms: 300, retry_max_ms: 2000 },
};

interface Takeover {
  off: PowerTiming;
  claimUs: number;
  fenceLines: AgentLine[];
}

describe('lab: a BMC that powers off 2 s after acknowledging (real agents, ipmi_sim)', function () {
  this.timeout(180_000);
  let lab: Lab | null = null;

  afterEach(async function () {
    if (lab !== null && this.currentTest?.state === 'failed') {
      for (const name of lab.serverNames()) {
        const tail = agentLog(lab, name)
          .filter((l) => l.event.startsWith('fence') || l.event === 'transition' || l.level === 'error')
          .slice(-10);
        console.log(`    ${name}: ${tail.map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
      console.log(`    power log: ${JSON.stringify(lab.powerLog)}`);
    }
    await lab?.stop();
    lab = null;
  });

  /** Cuts the primary's cable and waits for the monitor to hold the primary address. */
  async function cutAndTakeOver(l: Lab, primary: string, monitor: string): Promise<Takeover> {
    const cutUs = monoUs();
    await l.cut(primary);
    await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === monitor;
      },
      30_000,
      'the monitor holding the primary address',
    );
    const offs = l.powerLog.filter((p) => p.server === primary && !p.on && p.source === 'bmc' && p.commandUs > cutUs);
    // One power off through the BMC: no retried fence.
    expect(offs, JSON.stringify(l.powerLog)).to.have.length(1);
    const off = offs[0] as PowerTiming;
    const claim = l.events.find(
      (e) => e.server === monitor && e.kind === 'addr' && e.address === PRIMARY && !e.deleted && e.atUs > cutUs,
    );
    expect(claim, 'the new primary address assignment was recorded').to.not.equal(undefined);
    // The agent writes its log after acting: wait for the fence's lines.
    await l.waitFor(
      () =>
        agentLog(l, monitor).some((x) => x.event === 'transition' && x.atUs > cutUs && x.message.includes('took over')),
      5000,
      'the takeover in the agent log',
      50,
    );
    const fenceLines = agentLog(l, monitor).filter((x) => x.event.startsWith('fence') && x.atUs > cutUs);
    return { off, claimUs: claim?.atUs ?? 0, fenceLines };
  }

  /** The verdicts both fence modes share. */
  function expectTakeoverAfterRealOff(l: Lab, t: Takeover): { offMs: number; polls: number } {
    // The BMC held the power on for its delay, and the address came after the power went off.
    // (Node timers may fire up to a millisecond early on the monotonic clock.)
    expect(t.off.requestedUs - t.off.commandUs).to.be.at.least(OFF_DELAY_MS * 1000 - 2000);
    expect(t.claimUs).to.be.above(t.off.requestedUs);
    // One fence, confirmed by polling: no failure, no retry, no backoff.
    expect(t.fenceLines.map((x) => x.event)).to.deep.equal(['fence-start', 'fence-done']);
    const done = t.fenceLines[1] as AgentLine;
    // The outcome names the fence it ends.
    expect(done['fenceId'])
      .to.be.a('number')
      .and.equal((t.fenceLines[0] as AgentLine)['fenceId']);
    const offMs = Number(done['offUs']) / 1000;
    const polls = Number(done['polls']);
    expect(offMs).to.be.at.least(OFF_DELAY_MS);
    expect(polls).to.be.above(1);
    expect(l.splitBrainViolations(), JSON.stringify(l.splitBrainViolations())).to.deep.equal([]);
    return { offMs, polls };
  }

  it('off-on: the monitor polls until the power is really off, then takes over (no retries)', async () => {
    const l = (lab = await startLab({ bmcOffDelayMs: OFF_DELAY_MS, config: FAST }));
    const before = await converged(l);
    const t = await cutAndTakeOver(l, before.primary, before.monitor);
    const { offMs, polls } = expectTakeoverAfterRealOff(l, t);
    const done = t.fenceLines[1] as AgentLine;
    expect(done.message).to.match(/power off confirmed .* after power off .* status polls/);
    // Off-on: the new primary powers the old one on again once it holds the address.
    await l.waitFor(
      () =>
        l.powerLog.some((p) => p.server === before.primary && p.on && p.source === 'bmc' && p.requestedUs > t.claimUs),
      10_000,
      'the old primary powered on through its BMC',
    );
    // The BMC keeps the power off for its power cycle interval; the agent polls until on.
    await l.waitFor(
      () => agentLog(l, before.monitor).some((x) => x.event === 'power-on' && x.atUs > t.claimUs),
      10_000,
      'the power-on confirmed in the agent log',
      50,
    );
    expect(agentLog(l, before.monitor).filter((x) => x.event === 'power-on-failed')).to.deep.equal([]);
    const start = t.fenceLines[0] as AgentLine;
    console.log(
      `      fence-start -> fence-done ${((done.atUs - start.atUs) / 1000).toFixed(1)} ms, off ${offMs.toFixed(1)} ms, ${polls} status polls; power off -> address claimed ${((t.claimUs - t.off.requestedUs) / 1000).toFixed(1)} ms`,
    );
  });

  it('cycle: one cycle command, the off seen by a poll, takeover after the real off; the BMC powers on later', async () => {
    const l = (lab = await startLab({
      bmcOffDelayMs: OFF_DELAY_MS,
      config: FAST,
      board: { bmc: { power_cycle: 'cycle' } },
    }));
    const before = await converged(l);
    const t = await cutAndTakeOver(l, before.primary, before.monitor);
    const { offMs, polls } = expectTakeoverAfterRealOff(l, t);
    expect((t.fenceLines[1] as AgentLine).message).to.contain('after power cycle');
    // ipmi_sim's own on, kept off for the power cycle interval.
    const on = await l.waitFor(
      () => l.powerLog.find((p) => p.server === before.primary && p.on && p.requestedUs > t.off.requestedUs),
      10_000,
      'the BMC powering the old primary on again',
    );
    expect(on.requestedUs - t.off.doneUs).to.be.at.least(900_000);
    console.log(`      cycle: off ${offMs.toFixed(1)} ms, ${polls} status polls`);
  });
});
