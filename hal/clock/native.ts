/**
 * The real clock with microsecond wake-ups: `process.hrtime` (CLOCK_MONOTONIC) for time,
 * like MonotonicClock, and one timerfd (hotspare-timer.node, hal/clock/native/timer.c)
 * armed for the earliest deadline of a timer heap kept here.
 *
 * Why: Node timers are 1 ms grained and fire from the timers phase, so MonotonicClock's
 * callbacks run ~0.7 ms late at p50 and several ms at p99. A timerfd wakes the event loop
 * within tens of microseconds of the deadline.
 *
 * Order of events: the timerfd's expiry is seen in the poll phase, with socket I/O. The
 * addon then asks the kernel whether any other fd of the loop is ready (the epoll fd is
 * readable). If so, the due callbacks run from setImmediate, in the check phase after
 * every poll callback of that iteration: as with MonotonicClock, a probe reply that is
 * already in the socket when the timeout is due is read before the timeout runs, and a
 * late event loop does not turn answered probes into misses. If not (the loop slept until
 * this deadline), they run at once: the deferral would cost ~50 µs at p50 and up to a few
 * hundred at p99 on a just-woken VM (measured with test/host/hal/native-clock-measure.ts raw).
 *
 * Contract (hal/clock/index.ts): never early (the heap pops only deadlines <= nowUs());
 * one callback at a time, never re-entrantly (they run in a loop in one immediate, and a
 * timer set from a callback waits for a later wake); cancel idempotent; past deadlines run
 * at the next loop iteration. Equal deadlines run in the order they were set. A callback
 * that throws reaches 'uncaughtException' like any other; the due timers after it still run,
 * at the next iteration.
 */
import type { Cancel, Clock } from './index.js';
import type { NativeTimer, TimerBinding } from './native/binding.js';
import { ClockError } from './native/clock-error.js';
import type { TimerEntry } from './heap.js';
import { linuxBootId } from './boot-id.js';
import { TimerQueue } from './timer-queue.js';

/** Compact the heap when cancelled entries exceed this and half of it. */
const COMPACT_MIN = 64;

export class NativeClock implements Clock {
  private readonly timer: NativeTimer;
  private readonly queue = new TimerQueue(COMPACT_MIN);
  /** The deadline the timerfd is armed for; null when disarmed or just expired. */
  private armedUs: number | null = null;
  /** The timerfd is watched by the event loop (and keeps it alive). */
  private watching = false;
  /** A setImmediate to run the due timers is pending; the heap is re-armed after it. */
  private draining = false;
  /**
   * A re-arm is queued for the check phase: after a wake, the callbacks' own timers (set from
   * their promise continuations) are in the heap before the timerfd is armed once for the
   * earliest of them, instead of once per change (one timerfd_settime a probe, not three).
   */
  private rearmQueued = false;
  private closed = false;
  /** Wakes that found other I/O waiting and let it go first (for tests and diagnostics). */
  deferred = 0;

  constructor(binding: TimerBinding) {
    this.timer = new binding.Timer((ioPending) => this.expired(ioPending));
  }

  /** Microseconds of CLOCK_MONOTONIC, exactly as MonotonicClock (comparable across processes). */
  nowUs(): number {
    return Number(process.hrtime.bigint() / 1000n);
  }

  wallMs(): number {
    return Date.now();
  }

  bootId(): string {
    return linuxBootId();
  }

  at(deadlineUs: number, fn: () => void): Cancel {
    if (Number.isNaN(deadlineUs)) {
      throw new RangeError('deadline is NaN');
    }
    if (this.closed) {
      throw new ClockError('at', 'the native clock is closed');
    }
    const entry = this.queue.add(deadlineUs, fn);
    if (!this.draining && !this.rearmQueued && this.queue.earliest() === entry) this.rearm();
    return () => this.cancel(entry);
  }

  /** Timers still to run (cancelled ones excluded). */
  pending(): number {
    return this.queue.pending;
  }

  /** Releases the timerfd; pending timers never run. Idempotent. `at` then throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    this.timer.close();
  }

  private cancel(entry: TimerEntry): void {
    if (!this.queue.cancel(entry)) return;
    // Cancelling the earliest timer moves the wake-up (or removes it, so an idle clock does
    // not keep the process alive).
    if (!this.draining && !this.rearmQueued && !this.closed) this.rearm();
  }

  /**
   * The timerfd expired (poll phase). With no other I/O waiting (the usual case: the loop
   * slept in epoll until this deadline) the due timers run now; otherwise after this
   * iteration's I/O, from setImmediate.
   */
  private expired(ioPending: boolean): void {
    this.armedUs = null;
    if (this.draining || this.closed) return;
    this.draining = true;
    if (ioPending) {
      this.deferred += 1;
      setImmediate(() => this.drain());
    } else {
      this.drain();
    }
  }

  private drain(): void {
    if (this.closed) return;
    try {
      // After a throw, the rest of the batch runs at the next iteration.
      this.queue.runDue(this.nowUs());
    } finally {
      this.draining = false;
      if (!this.closed) this.queueRearm();
    }
  }

  private queueRearm(): void {
    if (this.rearmQueued) return;
    this.rearmQueued = true;
    setImmediate(() => {
      this.rearmQueued = false;
      if (!this.closed && !this.draining) this.rearm();
    });
  }

  /** Arms the timerfd for the earliest live deadline, or disarms it when there is none. */
  private rearm(): void {
    const top = this.queue.earliest();
    if (top === undefined) {
      if (this.watching) this.timer.disarm();
      this.watching = false;
      this.armedUs = null;
      return;
    }
    if (this.armedUs === top.atUs) return;
    this.timer.arm(top.atUs);
    this.armedUs = top.atUs;
    this.watching = true;
  }
}
