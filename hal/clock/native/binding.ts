/**
 * Loads hotspare-timer.node (hal/clock/native/timer.c, built by `make` into dist/bin) and
 * types its exports. The addon is optional: a build machine without Node's headers skips
 * it, and `openClock` then falls back to Node timers.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ClockError } from './clock-error.js';

/** One timerfd on the event loop. See timer.c for the exact behaviour. */
export interface NativeTimer {
  /** (Re)arms for `deadlineUs` of CLOCK_MONOTONIC; a past deadline expires at once. */
  arm(deadlineUs: number): void;
  /** No expiry until armed again; the timer stops keeping the event loop alive. */
  disarm(): void;
  /** Releases the fd; idempotent. */
  close(): void;
}

export interface TimerBinding {
  /** `onExpiry(ioPending)`: ioPending is true when other fds of the loop are ready. */
  Timer: new (onExpiry: (ioPending: boolean) => void) => NativeTimer;
  /** CLOCK_MONOTONIC in nanoseconds, read by the addon (process.hrtime reads the same). */
  monotonicNs(): bigint;
  /**
   * SCHED_FIFO at `priority` (1..99) for the calling (JS) thread, with SCHED_RESET_ON_FORK:
   * threads and child processes made later start as SCHED_OTHER. 0 returns to SCHED_OTHER.
   */
  setRealtime(priority: number): void;
  /** Pins the calling thread to the `index`-th CPU (from 0) it may run on; returns that CPU's number. */
  pinCpu(index: number): number;
  /** How many CPUs the calling thread may run on. */
  allowedCpus(): number;
  /**
   * A lease enforcer's command channel, reachable from every thread of the process by its id
   * (`lease.thread: twins`; timer.c says how): `channelReader` makes a new pipe behind it
   * (the last command of each slot written into it again) and returns its read end, for
   * the enforcer's stdin; `channelSend` writes one line for a slot (throws with the errno's
   * code; false: no enforcer started on the channel yet, the line kept for the first one);
   * `channelClose` closes the write end.
   */
  channelOpen(): number;
  channelReader(id: number): number;
  channelSend(id: number, slot: number, line: string): boolean;
  channelClose(id: number): void;
}

/** dist/bin/hotspare-timer.node, found from this compiled module (dist/hal/clock/native/). */
export const DEFAULT_TIMER_ADDON = fileURLToPath(new URL('../../../bin/hotspare-timer.node', import.meta.url));

const require = createRequire(import.meta.url);

/** Loads the addon at `path`; throws ClockError naming the path when it is missing or unloadable. */
export function loadTimerBinding(path: string = DEFAULT_TIMER_ADDON): TimerBinding {
  let loaded: unknown;
  try {
    loaded = require(path);
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    const detail =
      code === 'MODULE_NOT_FOUND'
        ? 'not built (Node headers missing at build time?)'
        : error instanceof Error
          ? error.message
          : String(error);
    throw new ClockError('load-addon', `${path}: ${detail}`, { cause: error });
  }
  if (!isTimerBinding(loaded)) {
    throw new ClockError('load-addon', `${path}: not the hotspare timer addon`);
  }
  return loaded;
}

function isTimerBinding(value: unknown): value is TimerBinding {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return [
    'Timer',
    'monotonicNs',
    'setRealtime',
    'pinCpu',
    'allowedCpus',
    'channelOpen',
    'channelReader',
    'channelSend',
    'channelClose',
  ].every((name) => typeof v[name] === 'function');
}
