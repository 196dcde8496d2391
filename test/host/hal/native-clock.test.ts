import { describeIfAvailable, itIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../../hal/clock/index.js';
import { sleepUs } from '../../../hal/clock/index.js';
import { MonotonicClock } from '../../../hal/clock/monotonic.js';
import { NativeClock } from '../../../hal/clock/native.js';
import { DEFAULT_TIMER_ADDON, loadTimerBinding, type TimerBinding } from '../../../hal/clock/native/binding.js';
import { isClockError } from '../../../hal/clock/native/clock-error.js';
import { openClock } from '../../../hal/clock/native/open.js';
import { periodic, summarize } from './native-clock-measure.js';

/** hrtime in (fractional) microseconds: the judge of "never early", independent of the clock. */
function hrUsExact(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

const moduleUrl = (path: string): string => new URL(path, import.meta.url).href;

/** Runs an ES module snippet in a child node (optionally under a wrapper command); resolves stdout. */
function runNode(code: string, wrapper: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...args] = [...wrapper, process.execPath, '--input-type=module', '-e', code];
  return new Promise((resolve) => {
    execFile(command as string, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

const addonBuilt = existsSync(DEFAULT_TIMER_ADDON);
const addonMissing = addonBuilt ? null : `${DEFAULT_TIMER_ADDON} is not built (make builds it)`;

interface Subject {
  name: string;
  make(): Clock & { close?: () => void };
}

const subjects: Subject[] = [{ name: 'MonotonicClock', make: () => new MonotonicClock() }];
if (addonBuilt) subjects.unshift({ name: 'NativeClock', make: () => new NativeClock(loadTimerBinding()) });

for (const subject of subjects) {
  describe(`hal/clock contract: ${subject.name}`, () => {
    let clock: Clock & { close?: () => void };
    beforeEach(() => {
      clock = subject.make();
    });
    afterEach(() => {
      clock.close?.();
    });

    it('never runs a callback before its deadline (checked against hrtime, fractional deadlines included)', async () => {
      const delays = [0, 1, 0.5, 37.25, 250, 999.9, 1000, 1500, 2000, 3333.3, 5000, 10_000, 20_500];
      const early: string[] = [];
      await Promise.all(
        delays.map(
          (delayUs) =>
            new Promise<void>((resolve) => {
              const deadline = clock.nowUs() + delayUs;
              clock.at(deadline, () => {
                const now = hrUsExact();
                if (now < deadline || clock.nowUs() < deadline) early.push(`+${delayUs} us: ${now - deadline}`);
                resolve();
              });
            }),
        ),
      );
      expect(early).to.deep.equal([]);
    });

    it('runs equal deadlines in the order they were set', async () => {
      const order: number[] = [];
      const deadline = clock.nowUs() + 3000;
      for (let i = 0; i < 20; i += 1) clock.at(deadline, () => order.push(i));
      await sleepUs(clock, 8000);
      expect(order).to.deep.equal([...Array(20).keys()]);
    });

    it('runs a past deadline soon, but never synchronously inside at()', async () => {
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

    it('cancel prevents the callback, is idempotent, and is harmless after firing', async () => {
      let fired = 0;
      const cancel = clock.at(clock.nowUs() + 2000, () => (fired += 1));
      cancel();
      cancel();
      const past = clock.at(0, () => (fired += 1));
      past();
      let ran = 0;
      const after = clock.at(0, () => (ran += 1));
      await sleepUs(clock, 6000);
      after();
      after();
      expect(fired).to.equal(0);
      expect(ran).to.equal(1);
    });

    it('a callback can cancel another one due at the same moment', async () => {
      const ran: string[] = [];
      const deadline = clock.nowUs() + 2000;
      let cancelB: () => void = () => undefined;
      clock.at(deadline, () => {
        ran.push('a');
        cancelB();
      });
      cancelB = clock.at(deadline, () => ran.push('b'));
      clock.at(deadline, () => ran.push('c'));
      await sleepUs(clock, 6000);
      expect(ran).to.deep.equal(['a', 'c']);
    });

    it('never runs callbacks re-entrantly', async () => {
      let depth = 0;
      let maxDepth = 0;
      let count = 0;
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          depth += 1;
          maxDepth = Math.max(maxDepth, depth);
          count += 1;
          if (count < 50) {
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

    it(`many timers: every live one runs once, none early${subject.name === 'NativeClock' ? ', in deadline order (NativeClock)' : ''}; cancelled ones never`, async () => {
      const start = clock.nowUs();
      const runs: { deadline: number; at: number }[] = [];
      const cancelledRan: number[] = [];
      let cancels: (() => void)[] = [];
      for (let i = 0; i < 5000; i += 1) {
        const deadline = start + ((i * 7919) % 30_000);
        if (i % 2 === 0) {
          clock.at(deadline, () => runs.push({ deadline, at: hrUsExact() }));
        } else {
          cancels.push(clock.at(deadline, () => cancelledRan.push(i)));
        }
      }
      cancels.forEach((cancel) => cancel());
      cancels = [];
      await sleepUs(clock, 40_000);
      expect(cancelledRan).to.deep.equal([]);
      expect(runs).to.have.length(2500);
      expect(runs.filter((r) => r.at < r.deadline)).to.deep.equal([]);
      const deadlines = runs.map((r) => r.deadline);
      // MonotonicClock is ms-grained: deadlines within one ms may swap. The contract allows it.
      if (subject.name === 'NativeClock') expect(deadlines).to.deep.equal([...deadlines].sort((a, b) => a - b));
    });

    it('lets I/O already waiting when a deadline passes run before the timer (a late loop does not turn replies into misses)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hotspare-clock-'));
      const path = join(dir, 'sock');
      const events: string[] = [];
      let server: Server | null = null;
      let client: Socket | null = null;
      try {
        const accepted = new Promise<Socket>((resolve) => {
          server = createServer(resolve);
          server.listen(path);
        });
        await new Promise<void>((resolve) => server?.once('listening', resolve));
        client = createConnection(path);
        const peer = await accepted;
        await new Promise<void>((resolve) => client?.once('connect', resolve));
        peer.on('data', () => events.push('reply'));
        for (let round = 0; round < 6; round += 1) {
          const deadline = clock.nowUs() + 1000;
          const done = new Promise<void>((resolve) =>
            clock.at(deadline, () => {
              events.push('timeout');
              resolve();
            }),
          );
          // The event loop is stuck (a GC, a slow callback) past the deadline, and the reply
          // arrives meanwhile: before the deadline in even rounds, after it in odd rounds. (Which
          // fd the kernel reports first varies; NativeClock.deferred counts the timer-first case.)
          const busyUntil = (t: number): void => {
            while (hrUsExact() < t) {
              // busy
            }
          };
          if (round % 2 === 0) client.write('x');
          busyUntil(deadline + 3000);
          if (round % 2 === 1) client.write('x');
          busyUntil(deadline + 4000);
          await done;
          // Start the next round from a Node timer, outside the clock's own callbacks, so the
          // kernel sees the two fds become ready in the order they did.
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
      } finally {
        client?.destroy();
        await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
        rmSync(dir, { recursive: true, force: true });
      }
      expect(events).to.deep.equal(Array(6).fill(['reply', 'timeout']).flat());
    });
  });
}

describeIfAvailable('hal/clock/native NativeClock and addon', addonMissing, () => {
  let binding: TimerBinding;
  before(() => {
    binding = loadTimerBinding();
  });

  it('loads the addon from dist/bin, whose clock is the one process.hrtime reads', () => {
    expect(DEFAULT_TIMER_ADDON).to.match(/dist\/bin\/hotspare-timer\.node$/);
    const before = process.hrtime.bigint();
    const native = binding.monotonicNs();
    const after = process.hrtime.bigint();
    expect(native >= before && native <= after, `${before} <= ${native} <= ${after}`).to.equal(true);
  });

  it('rejects bad input with clear errors', () => {
    const timer = new binding.Timer(() => undefined);
    expect(() => timer.arm(Number.NaN)).to.throw(/deadlineUs must be a number/);
    timer.close();
    timer.close();
    expect(() => timer.arm(1)).to.throw(/closed/);
    expect(() => binding.setRealtime(100)).to.throw(/priority must be an integer 1\.\.99/);
    expect(() => binding.setRealtime(1.5)).to.throw(/priority must be an integer/);
    const clock = new NativeClock(binding);
    expect(() => clock.at(Number.NaN, () => undefined)).to.throw(RangeError);
    clock.close();
    expect(() => clock.at(0, () => undefined)).to.throw(/closed/);
  });

  it('arms the timerfd once a wake when callbacks set their next timers from promise continuations', async () => {
    // The agent's probe loop: a timer's callback dispatches to the role machine, whose
    // set-timer actions run a few microtasks later (the next probe and this probe's timeout).
    let arms = 0;
    const counting: TimerBinding = {
      ...binding,
      Timer: class {
        private readonly inner: InstanceType<TimerBinding['Timer']>;
        constructor(onExpiry: (ioPending: boolean) => void) {
          this.inner = new binding.Timer(onExpiry);
        }
        arm(deadlineUs: number): void {
          arms += 1;
          this.inner.arm(deadlineUs);
        }
        disarm(): void {
          this.inner.disarm();
        }
        close(): void {
          this.inner.close();
        }
      } as unknown as TimerBinding['Timer'],
    };
    const clock = new NativeClock(counting);
    const wakes = 20;
    let fired = 0;
    let timeout: (() => void) | null = null;
    await new Promise<void>((resolve) => {
      const probe = (dueUs: number): void => {
        fired += 1;
        if (fired === wakes) {
          timeout?.();
          resolve();
          return;
        }
        void (async () => {
          await Promise.resolve();
          await Promise.resolve();
          timeout?.();
          timeout = clock.at(dueUs + 4000, () => undefined);
          await Promise.resolve();
          clock.at(dueUs + 2000, () => probe(dueUs + 2000));
        })();
      };
      clock.at(clock.nowUs() + 2000, () => probe(clock.nowUs()));
    });
    clock.close();
    expect(fired).to.equal(wakes);
    // One arm per wake (the first timer's own arm included); before, two or three.
    expect(arms).to.be.at.most(wakes + 1);
  });

  it('close() drops pending timers', async () => {
    const clock = new NativeClock(binding);
    let fired = 0;
    clock.at(clock.nowUs() + 1000, () => (fired += 1));
    clock.at(0, () => (fired += 1));
    clock.close();
    clock.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fired).to.equal(0);
    expect(clock.pending()).to.equal(0);
  });

  it('keeps the process alive while a timer is pending, and not once all are cancelled', async () => {
    const imports = `const { NativeClock } = await import('${moduleUrl('../../../hal/clock/native.js')}');
      const { loadTimerBinding } = await import('${moduleUrl('../../../hal/clock/native/binding.js')}');
      const clock = new NativeClock(loadTimerBinding());`;
    const alive = await runNode(`${imports} clock.at(clock.nowUs() + 100000, () => console.log('fired'));`);
    expect(alive.stdout.trim()).to.equal('fired');
    const start = Date.now();
    const idle = await runNode(`${imports}
      const cancels = [1, 2, 3].map((s) => clock.at(clock.nowUs() + s * 1e7, () => console.log('fired')));
      clock.at(0, () => { cancels.forEach((c) => c()); console.log('cancelled'); });`);
    expect(idle.stdout.trim()).to.equal('cancelled');
    expect(Date.now() - start).to.be.below(8000);
  });

  it('a throwing callback reaches uncaughtException, and the timers due with it still run', async () => {
    const result = await runNode(`const { NativeClock } = await import('${moduleUrl('../../../hal/clock/native.js')}');
      const { loadTimerBinding } = await import('${moduleUrl('../../../hal/clock/native/binding.js')}');
      const clock = new NativeClock(loadTimerBinding());
      process.on('uncaughtException', (e) => console.log('uncaught ' + e.message));
      const d = clock.nowUs() + 2000;
      clock.at(d, () => console.log('a'));
      clock.at(d, () => { throw new Error('boom'); });
      clock.at(d, () => console.log('c'));
      clock.at(d + 1000, () => console.log('d'));`);
    expect(result.stdout.trim().split('\n')).to.deep.equal(['a', 'uncaught boom', 'c', 'd']);
  });

  it('setRealtime puts the JS thread in SCHED_FIFO and back; children it spawns stay SCHED_OTHER', async () => {
    const result = await runNode(`import { readFileSync } from 'node:fs';
      const { loadTimerBinding } = await import('${moduleUrl('../../../hal/clock/native/binding.js')}');
      const b = loadTimerBinding();
      const sched = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return f[37] + '/' + f[38]; };
      const { execFileSync } = await import('node:child_process');
      b.setRealtime(7); const rt = sched();
      const child = execFileSync('sh', ['-c', 'cut -d" " -f40,41 /proc/self/stat'], { encoding: 'utf8' }).trim().replace(' ', '/');
      b.setRealtime(0); const other = sched();
      console.log(JSON.stringify({ rt, other, child }));`);
    expect(result.stderr).to.equal('');
    const out = JSON.parse(result.stdout) as { rt: string; other: string; child: string };
    // /proc stat fields 40 and 41: rt_priority / policy (1 = SCHED_FIFO, 0 = SCHED_OTHER).
    expect(out.rt).to.equal('7/1');
    expect(out.other).to.equal('0/0');
    expect(out.child).to.equal('0/0');
  });

  it('setRealtime without CAP_SYS_NICE says what is missing', async () => {
    const result = await runNode(
      `const { loadTimerBinding } = await import('${moduleUrl('../../../hal/clock/native/binding.js')}');
      try { loadTimerBinding().setRealtime(10); console.log('granted'); } catch (e) { console.log(e.code + ' ' + e.message); }`,
      ['setpriv', '--inh-caps=-sys_nice', '--bounding-set=-sys_nice'],
    );
    expect(result.stdout.trim()).to.match(/^EPERM .*CAP_SYS_NICE/);
  });
});

describe('hal/clock/native openClock', () => {
  const missing = '/nonexistent/hotspare-timer.node';

  it("'off' gives the Node timer clock", () => {
    const opened = openClock({ native: 'off' });
    expect(opened.kind).to.equal('node');
    expect(opened.clock).to.be.instanceOf(MonotonicClock);
    expect(opened.warning).to.equal(null);
  });

  it("'auto' falls back to Node timers with one warning naming the missing addon", () => {
    const opened = openClock({ native: 'auto', addonPath: missing });
    expect(opened.kind).to.equal('node');
    expect(opened.description).to.match(/Node timer clock/);
    expect(opened.warning)
      .to.include(missing)
      .and.to.match(/not built.*falling back to Node timers/);
  });

  it("'on' and an explicit realtime priority refuse to start without the addon", () => {
    for (const options of [
      { native: 'on' as const },
      { native: 'auto' as const, realtime: 10 },
      { native: 'off' as const, realtime: 1 },
    ]) {
      let caught: unknown = null;
      try {
        openClock({ ...options, addonPath: missing });
      } catch (error) {
        caught = error;
      }
      expect(isClockError(caught), JSON.stringify(options)).to.equal(true);
      expect(String(caught)).to.include(missing);
    }
  });

  it('rejects bad options clearly', () => {
    expect(() => openClock({ native: 'yes' as never })).to.throw(/native must be 'auto', 'on' or 'off'/);
    expect(() => openClock({ native: 'auto', realtime: 100 })).to.throw(/realtime must be an integer priority 1\.\.99/);
    expect(() => openClock({ native: 'auto', realtime: -1 })).to.throw(/realtime/);
  });

  itIfAvailable("'auto' and 'on' give the native clock when the addon is built", addonMissing, () => {
    for (const native of ['auto', 'on'] as const) {
      const opened = openClock({ native });
      try {
        expect(opened.kind).to.equal('native');
        expect(opened.clock).to.be.instanceOf(NativeClock);
        expect(opened.description).to.match(/native timerfd clock/);
        expect(opened.warning).to.equal(null);
      } finally {
        opened.close();
        opened.close();
      }
    }
  });
});

describeIfAvailable('hal/clock/native lateness (prints; asserts only never-early)', addonMissing, () => {
  it('2,000 deadlines 10 ms apart: NativeClock next to MonotonicClock, interleaved 5 ms apart', async function () {
    this.timeout(90_000);
    const native = new NativeClock(loadTimerBinding());
    const node = new MonotonicClock();
    const cpuBefore = process.cpuUsage();
    try {
      const [nativeLate, nodeLate] = await Promise.all([
        periodic(native, 10_000, 2000),
        periodic(node, 10_000, 2000, 5000),
      ]);
      const cpu = process.cpuUsage(cpuBefore);
      const a = summarize(nativeLate);
      const b = summarize(nodeLate);
      console.log(
        `      lateness µs  native p50 ${a.p50} p99 ${a.p99} max ${a.max} | node p50 ${b.p50} p99 ${b.p99} max ${b.max} | process CPU ${((cpu.user + cpu.system) / 200_000).toFixed(2)} % (both clocks)`,
      );
      expect(a.samples).to.equal(2000);
      expect(b.samples).to.equal(2000);
      expect(a.early).to.equal(0);
      expect(b.early).to.equal(0);
    } finally {
      native.close();
    }
  });
});
