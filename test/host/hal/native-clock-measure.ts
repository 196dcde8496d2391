/**
 * Lateness of periodic deadlines on a clock (callback time minus deadline, µs) and the
 * process's CPU use over the run. Used by native-clock.test.ts (prints, asserts only what
 * cannot flake) and runnable by hand for the comparison in the report:
 *
 *   node dist/test/host/hal/native-clock-measure.js CLOCK INTERVAL_US SECONDS [BUSY [REALTIME]]
 *
 * CLOCK: native | node | raw (the addon alone: lateness at the poll callback and after the
 * setImmediate deferral, to price the deferral). BUSY: busy-loop children (`node -e
 * 'for(;;){}'`) started for the run and killed by PID after it. REALTIME: SCHED_FIFO
 * priority for the measuring thread (0: none). Prints one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../../hal/clock/index.js';
import { MonotonicClock } from '../../../hal/clock/monotonic.js';
import { NativeClock } from '../../../hal/clock/native.js';
import { loadTimerBinding, type TimerBinding } from '../../../hal/clock/native/binding.js';

export interface Lateness {
  samples: number;
  p50: number;
  p99: number;
  max: number;
  /** Callbacks that ran before their deadline by hrtime (the contract says: never). */
  early: number;
}

export function summarize(late: number[]): Lateness {
  const sorted = [...late].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return {
    samples: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted[sorted.length - 1] ?? NaN,
    early: sorted.filter((x) => x < 0).length,
  };
}

function hrUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * `count` deadlines `intervalUs` apart, the first at now + `phaseUs` + one interval, each
 * set from the previous callback (as the probe loop does). Lateness is read from hrtime,
 * not from the clock under test.
 */
export function periodic(clock: Clock, intervalUs: number, count: number, phaseUs = 0): Promise<number[]> {
  return new Promise((resolve) => {
    const late: number[] = [];
    const start = hrUs() + phaseUs;
    const next = (k: number): void => {
      const deadline = start + k * intervalUs;
      clock.at(deadline, () => {
        late.push(hrUs() - deadline);
        if (k < count) next(k + 1);
        else resolve(late);
      });
    };
    next(1);
  });
}

/** The addon without NativeClock: lateness seen in the poll callback and after setImmediate. */
export function periodicRaw(
  binding: TimerBinding,
  intervalUs: number,
  count: number,
): Promise<{ poll: number[]; immediate: number[] }> {
  return new Promise((resolve) => {
    const poll: number[] = [];
    const immediate: number[] = [];
    const start = hrUs();
    let k = 1;
    const timer = new binding.Timer(() => {
      const deadline = start + k * intervalUs;
      poll.push(hrUs() - deadline);
      setImmediate(() => {
        immediate.push(hrUs() - deadline);
        k += 1;
        if (k <= count) timer.arm(start + k * intervalUs);
        else {
          timer.close();
          resolve({ poll, immediate });
        }
      });
    });
    timer.arm(start + intervalUs);
  });
}

function cpuPercent(before: NodeJS.CpuUsage, wallUs: number): number {
  const used = process.cpuUsage(before);
  return Math.round(((used.user + used.system) / wallUs) * 10_000) / 100;
}

async function main(argv: string[]): Promise<void> {
  const [kind = 'native', intervalArg = '10000', secondsArg = '10', busyArg = '0', realtimeArg = '0'] = argv;
  const intervalUs = Number(intervalArg);
  const count = Math.floor((Number(secondsArg) * 1e6) / intervalUs);
  const busy = Number(busyArg);
  const realtime = Number(realtimeArg);
  if (
    !['native', 'node', 'raw'].includes(kind) ||
    !(intervalUs > 0) ||
    !(count > 0) ||
    !Number.isInteger(busy) ||
    !Number.isInteger(realtime)
  ) {
    throw new Error('usage: native-clock-measure.js native|node|raw INTERVAL_US SECONDS [BUSY [REALTIME]]');
  }
  const binding = kind === 'node' && realtime === 0 ? null : loadTimerBinding();
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < busy; i += 1) children.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    if (realtime > 0) binding?.setRealtime(realtime);
    // Let the busy loops get going before measuring.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cpuBefore = process.cpuUsage();
    const wallStart = hrUs();
    let result: Record<string, unknown>;
    if (kind === 'raw' && binding !== null) {
      const { poll, immediate } = await periodicRaw(binding, intervalUs, count);
      const cost = immediate.map((x, i) => x - (poll[i] ?? 0));
      result = { poll: summarize(poll), immediate: summarize(immediate), deferral: summarize(cost) };
    } else {
      const clock = kind === 'native' && binding !== null ? new NativeClock(binding) : new MonotonicClock();
      result = { lateness: summarize(await periodic(clock, intervalUs, count)) };
      if (clock instanceof NativeClock) clock.close();
    }
    console.log(
      JSON.stringify({
        clock: kind,
        intervalUs,
        seconds: Number(secondsArg),
        busy,
        realtime,
        ...result,
        cpuPercent: cpuPercent(cpuBefore, hrUs() - wallStart),
      }),
    );
  } finally {
    for (const child of children) {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? Promise.resolve()
          : new Promise((resolve) => child.once('exit', resolve)),
      ),
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
}
