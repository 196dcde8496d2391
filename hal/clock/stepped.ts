import type { Cancel, Clock } from './index.js';

/**
 * TEST ONLY: a clock whose wall time can be stepped, as an NTP step or an operator's `date -s`
 * would step a real server's (CLOCK_REALTIME), without stepping the whole machine the lab
 * runs on. Monotonic time and timers pass through unchanged: a wall-clock step does not move
 * CLOCK_MONOTONIC either. `hotspare run` uses it only when the environment variable
 * HOTSPARE_TEST_CLOCK_STEP is `1` (src/cli/test-hooks.ts); it is never on by default.
 */
export class SteppedWallClock implements Clock {
  private offsetMs = 0;

  constructor(private readonly inner: Clock) {}

  nowUs(): number {
    return this.inner.nowUs();
  }

  wallMs(): number {
    return this.inner.wallMs() + this.offsetMs;
  }

  bootId(): string {
    return this.inner.bootId();
  }

  at(deadlineUs: number, fn: () => void): Cancel {
    return this.inner.at(deadlineUs, fn);
  }

  /** Steps the wall clock by `deltaMs` (either sign); returns the total offset now in effect. */
  step(deltaMs: number): number {
    if (!Number.isFinite(deltaMs)) throw new RangeError(`clock step must be a finite number of ms, got ${deltaMs}`);
    this.offsetMs += deltaMs;
    return this.offsetMs;
  }

  get stepMs(): number {
    return this.offsetMs;
  }
}
