import { HotspareError } from '../../errors/hotspare-error.js';

/**
 * The native clock cannot be used as asked: the addon is missing or fails to load, or the
 * operator asked for real-time scheduling or locked memory and the kernel refused.
 * (Lives beside the clock rather than in hal/errors so this change stays inside hal/clock;
 * move it there when wiring the clock into the agent.)
 */
export class ClockError extends HotspareError {
  override name = 'ClockError';

  constructor(operation: string, detail: string, options?: { cause?: unknown }) {
    super(`clock: ${operation}: ${detail}`, { operation }, options);
  }
}

export function isClockError(error: unknown): error is ClockError {
  return error instanceof ClockError;
}
