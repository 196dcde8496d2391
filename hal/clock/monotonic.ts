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
import { compact, pop, push, type TimerEntry } from './heap.js';
import type { Cancel, Clock } from './index.js';

const MAX_TIMEOUT_MS = 0x7fffffff;
/** Compact the heap when cancelled entries exceed this and half of it. */
const COMPACT_MIN = 1024;

export class MonotonicClock implements Clock {
  private readonly heap: TimerEntry[] = [];
  private order = 0;
  private live = 0;
  private cancelledInHeap = 0;
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

  wallMs(): number {
    return Date.now();
  }

  at(deadlineUs: number, fn: () => void): Cancel {
    if (Number.isNaN(deadlineUs)) {
      throw new RangeError('deadline is NaN');
    }
    const entry: TimerEntry = { atUs: deadlineUs, order: this.order++, fn };
    push(this.heap, entry);
    this.live += 1;
    if (!this.draining) this.arm();
    return () => this.cancel(entry);
  }

  private cancel(entry: TimerEntry): void {
    if (entry.fn === null) return;
    entry.fn = null;
    this.live -= 1;
    this.cancelledInHeap += 1;
    if (this.cancelledInHeap > COMPACT_MIN && this.cancelledInHeap * 2 > this.heap.length) {
      compact(this.heap);
      this.cancelledInHeap = 0;
    }
    // Cancelling the last timer removes the Node timer, so an idle clock does not keep the
    // process alive; an earlier wake-up than needed is harmless (it re-arms).
    if (!this.draining) this.arm();
  }

  /** Arms the Node timer for the earliest live deadline, or clears it when none is left. */
  private arm(): void {
    while (this.heap[0]?.fn === null) {
      pop(this.heap);
      this.cancelledInHeap -= 1;
    }
    const top = this.heap[0];
    if (top === undefined || this.live === 0) {
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
    const top = this.heap[0];
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
    const now = this.nowUs();
    const due: TimerEntry[] = [];
    for (let top = this.heap[0]; top !== undefined && top.atUs <= now; top = this.heap[0]) {
      pop(this.heap);
      if (top.fn === null) this.cancelledInHeap -= 1;
      else due.push(top);
    }
    let i = 0;
    try {
      for (; i < due.length; i += 1) {
        const entry = due[i] as TimerEntry;
        const fn = entry.fn;
        if (fn === null) continue;
        entry.fn = null;
        this.live -= 1;
        fn();
      }
    } finally {
      // After a throw (it reaches uncaughtException), the rest of the batch goes back and
      // runs at the next wake-up.
      for (i += 1; i < due.length; i += 1) {
        const entry = due[i] as TimerEntry;
        if (entry.fn !== null) push(this.heap, entry);
      }
      this.draining = false;
      this.arm();
    }
  }
}
