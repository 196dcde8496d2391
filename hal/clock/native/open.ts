/**
 * Chooses the agent's real clock: the native timerfd clock when the addon is there (or
 * required), Node timers otherwise, plus the firmware-style options an operator may ask
 * for. Returns what it got, for the agent's start-up log line.
 *
 * - native 'on': the addon must load, else ClockError. 'off': MonotonicClock.
 *   'auto': the addon if it loads, else MonotonicClock and one warning in `warning`.
 * - realtime N (1..99): SCHED_FIFO N for the calling thread (the JS thread: it sends the
 *   probes and runs the role machine; libuv and V8 worker threads, and child processes
 *   such as ipmitool, stay SCHED_OTHER: SCHED_RESET_ON_FORK). Needs
 *   the addon and CAP_SYS_NICE; any failure is a ClockError, since the operator asked for
 *   it explicitly. The kernel's RT throttling (sched_rt_runtime_us, 95 % by default) keeps
 *   a runaway agent from locking the machine.
 * No memory locking: mlockall under Node 20 makes V8 abort when it discards heap pages
 * (tried; see timer.c).
 */
import type { Clock } from '../index.js';
import { MonotonicClock } from '../monotonic.js';
import { NativeClock } from '../native.js';
import { DEFAULT_TIMER_ADDON, loadTimerBinding, type TimerBinding } from './binding.js';
import { ClockError } from './clock-error.js';

export type NativeMode = 'auto' | 'on' | 'off';

export interface OpenClockOptions {
  native: NativeMode;
  /** SCHED_FIFO priority 1..99; absent or 0: leave the scheduler alone. */
  realtime?: number;
  /** Default: dist/bin/hotspare-timer.node. */
  addonPath?: string;
}

export interface OpenedClock {
  clock: Clock;
  kind: 'native' | 'node';
  /** One line for the log: the clock and the options in effect. */
  description: string;
  /** Set when 'auto' fell back to Node timers: log it once, as a warning. */
  warning: string | null;
  /** Releases the timerfd (NativeClock); nothing for MonotonicClock. Idempotent. */
  close(): void;
}

export function openClock(options: OpenClockOptions): OpenedClock {
  const { native, realtime = 0, addonPath = DEFAULT_TIMER_ADDON } = options;
  if (native !== 'auto' && native !== 'on' && native !== 'off') {
    throw new ClockError('open', `native must be 'auto', 'on' or 'off', got ${JSON.stringify(native)}`);
  }
  if (!Number.isInteger(realtime) || realtime < 0 || realtime > 99) {
    throw new ClockError(
      'open',
      `realtime must be an integer priority 1..99 (0 or absent: off), got ${String(realtime)}`,
    );
  }
  const needAddon = native === 'on' || realtime > 0;
  let binding: TimerBinding | null = null;
  let warning: string | null = null;
  if (native !== 'off' || needAddon) {
    try {
      binding = loadTimerBinding(addonPath);
    } catch (error) {
      if (needAddon) throw error;
      warning = `native timer unavailable (${error instanceof Error ? error.message : String(error)}); falling back to Node timers: probes go out about 1 ms late, several ms at p99`;
    }
  }
  const features: string[] = [];
  if (binding !== null && realtime > 0) {
    try {
      binding.setRealtime(realtime);
    } catch (error) {
      throw new ClockError(
        'set-realtime',
        `SCHED_FIFO ${realtime}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    features.push(`SCHED_FIFO ${realtime}`);
  }
  const suffix = features.length === 0 ? '' : `, ${features.join(', ')}`;
  if (binding !== null && native !== 'off') {
    const clock = new NativeClock(binding);
    return {
      clock,
      kind: 'native',
      description: `native timerfd clock (${addonPath})${suffix}`,
      warning: null,
      close: () => clock.close(),
    };
  }
  const why = native === 'off' ? 'native clock off' : 'native clock unavailable';
  return {
    clock: new MonotonicClock(),
    kind: 'node',
    description: `Node timer clock (${why})${suffix}`,
    warning,
    close: () => undefined,
  };
}
