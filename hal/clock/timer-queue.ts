/**
 * The timer queue of the two real clocks (MonotonicClock, NativeClock): a heap of entries,
 * earliest deadline first, ties in the order they were set. A cancelled entry stays in the
 * heap until it reaches the top or the heap is compacted; the clocks differ only in how they
 * wake up for `earliest()` and when they call `runDue`.
 */
import { compact, pop, push, type TimerEntry } from './heap.js';

export class TimerQueue {
  private readonly heap: TimerEntry[] = [];
  private order = 0;
  private live = 0;
  private cancelledInHeap = 0;

  /** Compacts the heap when cancelled entries exceed `compactMin` and half of it. */
  constructor(private readonly compactMin: number) {}

  /** Timers still to run (cancelled ones excluded). */
  get pending(): number {
    return this.live;
  }

  add(atUs: number, fn: () => void): TimerEntry {
    const entry: TimerEntry = { atUs, order: this.order++, fn };
    push(this.heap, entry);
    this.live += 1;
    return entry;
  }

  /** Cancels `entry`; false when it had already run or been cancelled. */
  cancel(entry: TimerEntry): boolean {
    if (entry.fn === null) return false;
    entry.fn = null;
    this.live -= 1;
    this.cancelledInHeap += 1;
    if (this.cancelledInHeap > this.compactMin && this.cancelledInHeap * 2 > this.heap.length) {
      compact(this.heap);
      this.cancelledInHeap = 0;
    }
    return true;
  }

  /** The earliest live entry (cancelled ones at the top are dropped), or undefined. */
  earliest(): TimerEntry | undefined {
    for (let top = this.heap[0]; top !== undefined && top.fn === null; top = this.heap[0]) {
      pop(this.heap);
      this.cancelledInHeap -= 1;
    }
    return this.heap[0];
  }

  /**
   * Runs every callback due at `nowUs`, in heap order, one at a time; a callback may cancel
   * a later one of the batch, and a timer it sets waits for the next call. If a callback
   * throws, the rest of the batch goes back into the heap (to run at the next call) and the
   * throw goes on.
   */
  runDue(nowUs: number): void {
    const due: TimerEntry[] = [];
    for (let top = this.heap[0]; top !== undefined && top.atUs <= nowUs; top = this.heap[0]) {
      pop(this.heap);
      if (top.fn === null) this.cancelledInHeap -= 1;
      else due.push(top);
    }
    let i = 0;
    try {
      for (; i < due.length; i += 1) {
        const entry = due[i] as TimerEntry;
        const fn = entry.fn;
        // Cancelled by an earlier callback of this batch.
        if (fn === null) continue;
        entry.fn = null;
        this.live -= 1;
        fn();
      }
    } finally {
      for (i += 1; i < due.length; i += 1) {
        const entry = due[i] as TimerEntry;
        if (entry.fn !== null) push(this.heap, entry);
      }
    }
  }

  /** Drops every entry: none of them runs. */
  clear(): void {
    for (const e of this.heap) e.fn = null;
    this.heap.length = 0;
    this.live = 0;
    this.cancelledInHeap = 0;
  }
}
