/**
 * The real clock: `process.hrtime` (CLOCK_MONOTONIC) for time, Node timers for deadlines.
 *
 * The timers are kept in one heap (earliest deadline first, ties in the order they were
 * made, as the native and simulated clocks) under a single Node timer armed for the
 * earliest. Node's timers have 1 ms granularity and measure from the event loop's cached
 * time, so they can fire a little early relative to hrtime and usually fire up to ~1 ms
 * late: the Node timer is armed for the whole milliseconds left (rounded down), and on
 * waking hrtime is read again and the timer re-armed if the earliest deadline is still
 * ahead, so a callback never runs early. With less than 1 ms left it arms setTimeout(0)
 * (really 1 ms): no busy polling, at the cost of up to about 1 ms of lateness. The due
 * callbacks then run after pending I/O (see `wake`).
 */
import { linuxBootId } from './boot-id.js';
import type { TimerEntry } from './heap.js';
import type { Cancel, Clock } from './index.js';
import { TimerQueue } from './timer-queue.js';

const MAX_TIMEOUT_MS = 0x7fffffff;
/** Compact the heap when cancelled entries exceed this and half of it. */
const COMPACT_MIN = 1024;

export class MonotonicClock implements Clock {
  private readonly queue = new TimerQueue(COMPACT_MIN);
  private timer: NodeJS.Timeout | null = null;
  /** The deadline the Node timer is armed for. */
  private armedUs = Infinity;
  /** A drain is queued or running; the timer is re-armed after it. */
  private draining = false;

  /**
   * Microseconds of CLOCK_MONOTONIC (since boot): the same time line in every process on
   * the machine, so log timestamps of different agents and of the lab harness compare.
   * About 1e11 for a day of uptime, far inside a double's exact integers.
   */
  nowUs(): number {
    return Number(process.hrtime.bigint() / 1000n);
  }

  bootId(): string {
    return linuxBootId();
  }

  wallMs(): number {
    return Date.now();
  }

  at(deadlineUs: number, fn: () => void): Cancel {
    if (Number.isNaN(deadlineUs)) {
      throw new RangeError('deadline is NaN');
    }
    const entry = this.queue.add(deadlineUs, fn);
    if (!this.draining) this.arm();
    return () => this.cancel(entry);
  }

  private cancel(entry: TimerEntry): void {
    if (!this.queue.cancel(entry)) return;
    // Cancelling the last timer removes the Node timer, so an idle clock does not keep the
    // process alive; an earlier wake-up than needed is harmless (it re-arms).
    if (!this.draining) this.arm();
  }

  /** Arms the Node timer for the earliest live deadline, or clears it when none is left. */
  private arm(): void {
    const top = this.queue.earliest();
    if (top === undefined) {
      this.disarm();
      return;
    }
    if (this.timer !== null && this.armedUs <= top.atUs) return;
    this.disarm();
    const remainingUs = top.atUs - this.nowUs();
    this.armedUs = top.atUs;
    // setTimeout treats delays above 2^31-1 ms as 1 ms: cap them, the re-check re-arms.
    this.timer = setTimeout(() => this.wake(), Math.min(MAX_TIMEOUT_MS, Math.max(0, Math.floor(remainingUs / 1000))));
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedUs = Infinity;
  }

  private wake(): void {
    this.timer = null;
    this.armedUs = Infinity;
    const top = this.queue.earliest();
    if (top === undefined || this.nowUs() < top.atUs) {
      this.arm();
      return;
    }
    // Run after the I/O that is already waiting (setImmediate runs after the poll phase):
    // when the loop was late, a probe reply that arrived before its timeout is seen before
    // the timeout is. Without this, a stall of the event loop turns answered probes into
    // misses, because Node runs expired timers before it reads sockets.
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /** Runs every callback due now, in heap order; one may cancel a later one of the batch. */
  private drain(): void {
    try {
      // After a throw (it reaches uncaughtException), the rest of the batch runs at the next wake-up.
      this.queue.runDue(this.nowUs());
    } finally {
      this.draining = false;
      this.arm();
    }
  }
}
