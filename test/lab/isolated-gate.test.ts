/**
 * The `isolated` takeover gate in the lab (issue 11): real agents, the lab's managed switch
 * (snmpd, SNMP IF-MIB) as every member's isolation device, ipmi_sim BMCs that take 4 s to
 * cut the power. The primary's switch port goes silent while it keeps the address; the
 * monitor must cut that port, read the cut back and claim, long before the BMC's power-off,
 * and reconnect the port only once the power reads off. Verdicts from ground truth: the
 * recorded address events, the BMCs' power log; the agents' log for what was confirmed.
 */
import { expect } from 'chai';
import { startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { agentLog, converged, monoUs } from './fixtures.js';

const PRIMARY = '198.18.0.10/24';
const BMC_OFF_DELAY_MS = 4000;

describe('lab: the isolated gate (real agents, SNMP switch ports, 4 s BMCs)', function () {
  this.timeout(180_000);
  let lab: Lab | null = null;

  afterEach(async function () {
    if (lab !== null && this.currentTest?.state === 'failed') {
      for (const name of lab.serverNames()) {
        const tail = agentLog(lab, name)
          .filter((l) => l.event === 'transition' || l.level === 'error' || l.event.startsWith('fence'))
          .slice(-12);
        console.log(`    ${name}: ${tail.map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
    }
    await lab?.stop();
    lab = null;
  });

  it("a silent primary port: the monitor cuts it, reads the cut back and claims before the BMC's 4 s off; the port comes back only after the power is off", async () => {
    const l = await startLab({
      switchSnmp: true,
      isolation: true,
      bmcOffDelayMs: BMC_OFF_DELAY_MS,
      config: {
        probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
        boot: { jitter_ms: 200, check_ms: 50 },
        fencing: { gate: 'isolated', retry_ms: 300, retry_max_ms: 2000 },
      },
    });
    lab = l;
    const before = await converged(l);
    const faultUs = monoUs();
    await l.silence(before.primary);
    const claimUs = await l.waitFor(
      () =>
        l.events.find(
          (e) =>
            e.kind === 'addr' &&
            e.server === before.monitor &&
            e.ifname === 'eth0' &&
            !e.deleted &&
            e.address === PRIMARY &&
            e.atUs >= faultUs,
        )?.atUs,
      20_000,
      'the monitor claiming the primary address',
      20,
    );
    const off = await l.waitFor(
      () =>
        l.powerLog.find((p) => p.server === before.primary && !p.on && p.source === 'bmc' && p.requestedUs >= faultUs),
      20_000,
      "the BMC's power-off of the silent primary",
      50,
    );
    // Ground truth: the claim came before the power went off (the BMC holds it 4 s).
    expect(claimUs).to.be.below(off.doneUs);
    console.log(
      `      silence -> claim ${((claimUs - faultUs) / 1000).toFixed(1)} ms, -> BMC power off ${((off.doneUs - faultUs) / 1000).toFixed(0)} ms`,
    );
    // What the monitor confirmed, in its own words: the isolation, then the power, then the port back.
    const log = (): ReturnType<typeof agentLog> => agentLog(l, before.monitor).filter((x) => x.atUs >= faultUs);
    await l.waitFor(
      () => log().some((x) => x.event === 'isolation-restored'),
      20_000,
      'the monitor reconnecting the port after the power-off',
      50,
    );
    const done = log().find((x) => x.event === 'fence-done');
    expect(done?.['by']).to.equal('isolation');
    const restored = log().find((x) => x.event === 'isolation-restored');
    expect(restored?.atUs ?? 0).to.be.above(log().find((x) => x.event === 'fence-power-off')?.atUs ?? Infinity);
    expect(l.splitBrainViolations()).to.deep.equal([]);
    await l.restore(before.primary, 'silence');
    await converged(l, 60_000);
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });
});
