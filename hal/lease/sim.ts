import type { Cancel, Clock } from '../clock/index.js';
import type { SimHost } from '../sim/lan.js';
import type { LeaseEnforcer } from './index.js';

/**
 * The simulated enforcer: a process of its own on the simulated host, so it runs on the
 * cluster's clock even while the agent is hung, and dies with the host's power. At the
 * deadline it deletes `ip` from the host's kernel, `dropUs` later (its wake-up and the
 * netlink call).
 */
export class SimLeaseEnforcer implements LeaseEnforcer {
  private timer: Cancel | null = null;
  private readonly listeners: Array<(lateUs: number, deadlineUs: number | null) => void> = [];
  private readonly life: number;

  constructor(
    private readonly clock: Clock,
    private readonly host: SimHost,
    private readonly ip: string,
    private readonly dropUs = 0,
  ) {
    this.life = host.life;
  }

  hold(untilUs: number): void {
    this.timer?.();
    this.timer = this.clock.at(untilUs + this.dropUs, () => {
      this.timer = null;
      if (this.host.life !== this.life || !this.host.powered) return;
      if (!this.host.addresses.delete(this.ip)) return;
      const lateUs = this.clock.nowUs() - untilUs;
      for (const listener of [...this.listeners]) this.host.deliver(this.life, () => listener(lateUs, untilUs));
    });
  }

  disarm(): void {
    this.timer?.();
    this.timer = null;
  }

  onExpired(listener: (lateUs: number, deadlineUs: number | null) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.listeners.length = 0;
  }
}
