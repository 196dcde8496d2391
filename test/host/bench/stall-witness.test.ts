import { expect } from 'chai';
import { cpus } from 'node:os';
import { monoUs } from '../../../scripts/lab/exec.js';
import { platformNote } from '../../../scripts/bench/report.js';
import { startStallWitness, stallsWithin } from '../../../scripts/bench/stall-witness.js';
import type { WitnessReport } from '../../../scripts/bench/stall-witness.js';

describe('bench stall witness', () => {
  it('the real witness: one summary per CPU, and its late wake-ups on the agents clock', async function () {
    this.timeout(20_000);
    // A threshold of 1 µs: every wake-up is later than that, so each one is reported.
    const startUs = monoUs();
    const witness = await startStallWitness(1, 10);
    // Wait for reports, not for a fixed time: stop once the witness has run a while.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && monoUs() - startUs < 300_000)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const report = await witness.stop();
    const endUs = monoUs();
    expect(report.error).to.equal(null);
    expect(report.cpus.map((c) => c.cpu)).to.deep.equal(cpus().map((_, i) => i));
    for (const c of report.cpus) {
      expect(c.wakeups, `CPU ${c.cpu}`).to.be.above(10);
      // A wake-up within 1 µs of its deadline is possible, but not many.
      expect(c.over, `CPU ${c.cpu}`).to.be.at.least(c.wakeups * 0.5);
      expect(report.stalls.filter((s) => s.cpu === c.cpu).length, `CPU ${c.cpu}: each one reported`).to.equal(c.over);
    }
    for (const s of report.stalls) {
      expect(s.deadlineUs).to.be.within(startUs, endUs);
      expect(s.lateUs).to.be.at.least(1);
    }
  });

  it('stallsWithin: the longest stall of each CPU that overlaps the interval', () => {
    const report: WitnessReport = {
      thresholdUs: 5000,
      cpus: [
        { cpu: 0, wakeups: 100, over: 2, maxLateUs: 80_000 },
        { cpu: 1, wakeups: 100, over: 1, maxLateUs: 9000 },
      ],
      stalls: [
        { cpu: 0, deadlineUs: 1_000_000, lateUs: 80_000 },
        { cpu: 0, deadlineUs: 2_000_000, lateUs: 6000 },
        { cpu: 1, deadlineUs: 1_050_000, lateUs: 9000 },
      ],
      error: null,
    };
    // A stall that began before the interval and ran into it counts.
    expect(stallsWithin(report, 1_070_000, 1_100_000)).to.deep.equal([80_000, 0]);
    expect(stallsWithin(report, 1_000_000, 1_100_000)).to.deep.equal([80_000, 9000]);
    expect(stallsWithin(report, 1_100_000, 1_900_000)).to.deep.equal([0, 0]);
    expect(stallsWithin(report, 1_900_000, 2_100_000)).to.deep.equal([6000, 0]);
  });

  it("the report's sentence: stalls per CPU, and how many lease losses had one just before", () => {
    const note = platformNote({
      thresholdUs: 5000,
      lookbackUs: 100_000,
      cpus: [
        { cpu: 0, wakeups: 600_000, over: 3, maxLateUs: 101_200 },
        { cpu: 1, wakeups: 600_000, over: 1, maxLateUs: 7000 },
      ],
      incidents: [
        { event: 'lease-lost', server: 'a', atS: 12.5, stallsMs: [101.2, 0] },
        { event: 'primary-down', server: 'b', atS: 12.6, stallsMs: [101.2, 0] },
        { event: 'lease-lost', server: 'b', atS: 300, stallsMs: [0, 0] },
      ],
      error: null,
    });
    expect(note).to.contain('CPU 0 3 times (at most 101.2 ms), CPU 1 1 times (at most 7.0 ms)');
    expect(note).to.contain('1 of 2 lease losses had such a stall in the 100 ms before them (101.2/0.0 ms, 0.0/0.0 ms');
    expect(platformNote(undefined)).to.equal('');
  });
});
