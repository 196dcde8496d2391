import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { MonotonicClock } from '../../../hal/clock/monotonic.js';
import { sleepUs } from '../../../hal/clock/index.js';

function hrUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

describe('hal/clock/monotonic MonotonicClock', () => {
  it("names its time line by the kernel's boot ID, as another process reads it", async () => {
    const clock = new MonotonicClock();
    const other = await new Promise<string>((resolve, reject) =>
      execFile('cat', ['/proc/sys/kernel/random/boot_id'], (error, stdout) =>
        error === null ? resolve(stdout.trim()) : reject(error),
      ),
    );
    expect(other).to.match(/^[0-9a-f-]{36}$/);
    expect(clock.bootId()).to.equal(other);
  });

  it('counts microseconds of the system monotonic clock (shared by all processes), never backwards', () => {
    const clock = new MonotonicClock();
    const first = clock.nowUs();
    expect(Math.abs(first - Number(process.hrtime.bigint() / 1000n))).to.be.below(10_000);
    let previous = first;
    for (let i = 0; i < 10_000; i += 1) {
      const now = clock.nowUs();
      expect(now).to.be.at.least(previous);
      previous = now;
    }
  });

  it('tracks real time', async () => {
    const clock = new MonotonicClock();
    const start = clock.nowUs();
    const realStart = hrUs();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const elapsed = clock.nowUs() - start;
    expect(elapsed).to.be.closeTo(hrUs() - realStart, 1000);
    expect(elapsed).to.be.at.least(49_000);
  });

  it('gives the wall clock in milliseconds', () => {
    const clock = new MonotonicClock();
    expect(clock.wallMs()).to.be.closeTo(Date.now(), 50);
  });

  it('never fires early, and not much late', async () => {
    const clock = new MonotonicClock();
    const lateness: number[] = [];
    const delays = [0, 1, 250, 999, 1000, 1500, 2000, 3333, 5000, 10_000, 20_500];
    await Promise.all(
      delays.map(
        (delayUs) =>
          new Promise<void>((resolve) => {
            const deadline = clock.nowUs() + delayUs;
            clock.at(deadline, () => {
              const now = clock.nowUs();
              expect(now, `deadline +${delayUs} us`).to.be.at.least(deadline);
              lateness.push(now - deadline);
              resolve();
            });
          }),
      ),
    );
    const worst = Math.max(...lateness);
    // Node timers are 1 ms grained; allow for a busy CI machine.
    expect(worst).to.be.below(30_000);
  });

  // Past deadlines, re-entrancy and cancel are checked for MonotonicClock by the shared clock
  // contract in native-clock.test.ts, which runs on both clocks.

  it('sleepUs resolves after the delay', async () => {
    const clock = new MonotonicClock();
    const start = clock.nowUs();
    await sleepUs(clock, 15_000);
    expect(clock.nowUs() - start).to.be.at.least(15_000);
  });

  it('survives a deadline beyond setTimeout range without spinning', async () => {
    const clock = new MonotonicClock();
    let fired = false;
    const cancel = clock.at(Number.MAX_SAFE_INTEGER, () => {
      fired = true;
    });
    const cpuBefore = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const cpu = process.cpuUsage(cpuBefore);
    cancel();
    expect(fired).to.equal(false);
    expect(cpu.user + cpu.system).to.be.below(40_000);
  });
});
