/**
 * The floor of the agent's probe scheduling in Node, without the agent: wakes at absolute
 * deadlines every INTERVAL_MS for SECONDS and prints the lateness (µs) p50/p99/max and the
 * process's CPU use as one JSON line.
 *
 *   node timer-node.js agent-clock|spin INTERVAL_MS SECONDS
 *
 * agent-clock: the agent's own MonotonicClock.at (hal/clock/monotonic.ts): whole-millisecond
 *   setTimeout, re-armed until due, then setImmediate.
 * spin: setTimeout until 1.5 ms before the deadline, then setImmediate turns until it is due
 *   (what sub-millisecond precision costs on Node's event loop).
 */
import { MonotonicClock } from '../../hal/clock/monotonic.js';

const [mode = 'agent-clock', intervalText = '10', secondsText = '20'] = process.argv.slice(2);
const intervalUs = Number(intervalText) * 1000;
const seconds = Number(secondsText);
const clock = new MonotonicClock();
const late: number[] = [];
const cpuStart = process.cpuUsage();
const startUs = clock.nowUs();
const endUs = startUs + seconds * 1e6;

function spinAt(deadlineUs: number, fn: () => void): void {
  const turn = (): void => {
    if (clock.nowUs() >= deadlineUs) fn();
    else setImmediate(turn);
  };
  setTimeout(turn, Math.max(0, Math.floor((deadlineUs - clock.nowUs() - 1500) / 1000)));
}

function finish(): void {
  const cpu = process.cpuUsage(cpuStart);
  const sorted = [...late].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  process.stdout.write(
    `${JSON.stringify({ samples: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, cpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100 })}\n`,
  );
}

function schedule(deadlineUs: number): void {
  if (deadlineUs > endUs) {
    finish();
    return;
  }
  const wake = (): void => {
    const now = clock.nowUs();
    late.push(now - deadlineUs);
    let next = deadlineUs + intervalUs;
    // Like the agent: missed slots are skipped, not burst.
    if (next <= now) next += Math.ceil((now - next + 1) / intervalUs) * intervalUs;
    schedule(next);
  };
  if (mode === 'spin') spinAt(deadlineUs, wake);
  else clock.at(deadlineUs, wake);
}

schedule(startUs + intervalUs);
