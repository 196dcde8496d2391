import { expect } from 'chai';
import { MonotonicClock } from '../../hal/clock/linux.js';
import { sleepUs } from '../../hal/clock/index.js';

function hrUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

describe('hal/clock/linux MonotonicClock', () => {
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

  it('runs a past deadline soon, but never synchronously inside at()', async () => {
    const clock = new MonotonicClock();
    let ran = false;
    await new Promise<void>((resolve) => {
      clock.at(clock.nowUs() - 1_000_000, () => {
        ran = true;
        resolve();
      });
      expect(ran).to.equal(false);
    });
    expect(ran).to.equal(true);
  });

  it('never runs callbacks re-entrantly', async () => {
    const clock = new MonotonicClock();
    let depth = 0;
    let maxDepth = 0;
    let count = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        depth += 1;
        maxDepth = Math.max(maxDepth, depth);
        count += 1;
        if (count < 20) {
          clock.at(0, tick);
          clock.at(clock.nowUs(), () => undefined);
        } else {
          resolve();
        }
        depth -= 1;
      };
      clock.at(0, tick);
    });
    expect(maxDepth).to.equal(1);
  });

  it('cancel prevents the callback and is idempotent', async () => {
    const clock = new MonotonicClock();
    let fired = 0;
    const cancel = clock.at(clock.nowUs() + 2000, () => {
      fired += 1;
    });
    cancel();
    cancel();
    const past = clock.at(0, () => {
      fired += 1;
    });
    past();
    await sleepUs(clock, 10_000);
    expect(fired).to.equal(0);
  });

  it('cancel after firing is harmless', async () => {
    const clock = new MonotonicClock();
    let fired = 0;
    const cancel = clock.at(0, () => {
      fired += 1;
    });
    await sleepUs(clock, 5000);
    cancel();
    cancel();
    expect(fired).to.equal(1);
  });

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
