/**
 * Clock: a monotonic microsecond time source and a timer wheel.
 *
 * Contract:
 * - `nowUs()` never goes backwards and is unrelated to wall-clock time.
 * - `at(deadlineUs, fn)` runs `fn` once, no earlier than `deadlineUs`. A deadline in the
 *   past runs as soon as possible. Callbacks run one at a time, never re-entrantly.
 * - The returned cancel function is idempotent; after it returns, `fn` will not run.
 * - `wallMs()` is the wall clock, for log timestamps only; decisions never use it.
 * - `bootId()` names `nowUs`'s time line: the same in every process of this machine until it
 *   boots again. A `nowUs` reading persisted with it is comparable with a later one only
 *   while `bootId()` is the same.
 */
export interface Clock {
  nowUs(): number;
  wallMs(): number;
  bootId(): string;
  at(deadlineUs: number, fn: () => void): Cancel;
}

export type Cancel = () => void;

/** Resolves after `delayUs` on the given clock (virtual or real). */
export function sleepUs(clock: Clock, delayUs: number): Promise<void> {
  return new Promise((resolve) => {
    clock.at(clock.nowUs() + delayUs, resolve);
  });
}
