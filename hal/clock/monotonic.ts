/**
 * The real clock: `process.hrtime` (CLOCK_MONOTONIC) for time, Node timers for deadlines.
 *
 * Node's timers have 1 ms granularity and measure from the event loop's cached time, so
 * they can fire a little early relative to hrtime and usually fire up to ~1 ms late. `at`
 * arms setTimeout for the whole milliseconds left (rounded down), re-checks hrtime when
 * woken and re-arms if the deadline is still ahead, so a callback never runs early. With
 * less than 1 ms left it arms setTimeout(0) (really 1 ms): no busy polling, at the cost of
 * up to about 1 ms of lateness. Callbacks then run after pending I/O (see `fire`).
 */
import type { Cancel, Clock } from './index.js';

const MAX_TIMEOUT_MS = 0x7fffffff;

export class MonotonicClock implements Clock {
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
    let timer: NodeJS.Timeout | null = null;
    let done = false;

    const arm = (): void => {
      const remainingUs = deadlineUs - this.nowUs();
      // setTimeout treats delays above 2^31-1 ms as 1 ms: cap them, the re-check re-arms.
      timer = setTimeout(fire, Math.min(MAX_TIMEOUT_MS, Math.max(0, Math.floor(remainingUs / 1000))));
    };
    const fire = (): void => {
      timer = null;
      if (done) {
        return;
      }
      if (this.nowUs() < deadlineUs) {
        arm();
        return;
      }
      // Run after the I/O that is already waiting (setImmediate runs after the poll phase):
      // when the loop was late, a probe reply that arrived before its timeout is seen before
      // the timeout is. Without this, a stall of the event loop turns answered probes into
      // misses, because Node runs expired timers before it reads sockets.
      setImmediate(() => {
        if (done) {
          return;
        }
        done = true;
        fn();
      });
    };

    if (Number.isNaN(deadlineUs)) {
      throw new RangeError('deadline is NaN');
    }
    arm();
    return () => {
      done = true;
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
    };
  }
}
