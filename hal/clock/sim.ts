import type { Cancel, Clock } from './index.js';
import { pop, push } from './heap.js';

interface Entry {
  atUs: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time for simulations: nothing happens until the test advances the clock, and
 * then timers run in deadline order (ties in the order they were set). Between two timers
 * every pending promise settles, so async code in agents and drivers runs to its next
 * wait before time moves on.
 */
export class VirtualClock implements Clock {
  private now = 0;
  private order = 0;
  private readonly heap: Entry[] = [];
  /** Test control: called after every timer, once everything it started has settled. */
  onSettled: (() => void) | null = null;

  /** Wall clock = a fixed epoch plus virtual time, so logs read like real ones. */
  constructor(private readonly epochMs = Date.UTC(2026, 0, 1)) {}

  nowUs(): number {
    return this.now;
  }

  wallMs(): number {
    return this.epochMs + Math.floor(this.now / 1000);
  }

  /** One time line for the whole simulation (simulated hosts name their boots: HostClock). */
  bootId(): string {
    return 'virtual';
  }

  at(deadlineUs: number, fn: () => void): Cancel {
    const entry: Entry = { atUs: Math.max(deadlineUs, this.now), order: this.order++, fn, cancelled: false };
    push(this.heap, entry);
    return () => {
      entry.cancelled = true;
    };
  }

  /** Runs every timer due up to `untilUs`, then sets the clock to `untilUs`. */
  async runUntil(untilUs: number): Promise<void> {
    await settle();
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.atUs > untilUs) break;
      pop(this.heap);
      if (top.cancelled) continue;
      this.now = top.atUs;
      top.fn();
      await settle();
      this.onSettled?.();
    }
    this.now = Math.max(this.now, untilUs);
  }

  runFor(durationUs: number): Promise<void> {
    return this.runUntil(this.now + durationUs);
  }

  /** Timers still pending (cancelled ones excluded). */
  pending(): number {
    return this.heap.filter((e) => !e.cancelled).length;
  }
}

/** Lets every promise chain that is ready run to its next real wait. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
