import type { Cancel, Clock } from '../../hal/clock/index.js';
import type { TimerName } from '../role/index.js';

/**
 * The role machine's timers, by name: at most one of each is armed; when it fires it is
 * forgotten and handed back to `fire`, which turns it into a `timer` event.
 */
export class RoleTimers {
  private readonly armed = new Map<TimerName, { cancel: Cancel; atUs: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly fire: (name: TimerName) => void,
  ) {}

  set(name: TimerName, atUs: number): void {
    this.armed.get(name)?.cancel();
    const cancel = this.clock.at(atUs, () => {
      this.armed.delete(name);
      this.fire(name);
    });
    this.armed.set(name, { cancel, atUs });
  }

  cancel(name: TimerName): void {
    this.armed.get(name)?.cancel();
    this.armed.delete(name);
  }

  cancelAll(): void {
    for (const timer of this.armed.values()) timer.cancel();
    this.armed.clear();
  }
}
