import type { Cancel, Clock } from '../clock/index.js';
import type { VirtualClock } from '../clock/sim.js';
import type { SimHost } from './lan.js';

/**
 * The virtual clock as one life of one simulated host sees it: its timers do not fire
 * after the host lost power, and wait while the host's agent is frozen.
 */
export class HostClock implements Clock {
  private readonly life: number;

  constructor(
    private readonly clock: VirtualClock,
    private readonly host: SimHost,
  ) {
    this.life = host.life;
  }

  nowUs(): number {
    return this.clock.nowUs();
  }

  wallMs(): number {
    return this.clock.wallMs();
  }

  /** Each power-on of the simulated host is a boot of its own. */
  bootId(): string {
    return `${this.clock.bootId()}-${this.host.name}-${this.life}`;
  }

  at(deadlineUs: number, fn: () => void): Cancel {
    let cancelled = false;
    const cancel = this.clock.at(deadlineUs, () => this.host.deliver(this.life, () => cancelled || fn()));
    return () => {
      cancelled = true;
      cancel();
    };
  }
}
