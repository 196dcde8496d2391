import type { PeerPath } from '../role/types.js';
import type { PeerObservation } from './observation.js';

/**
 * Which observations go on to the role machine: one whose content changed since the last
 * one passed on for that member and path, the first after a silence, and otherwise one
 * every `everyUs` (the heartbeat uses half an interval: every frame of the cadence passes,
 * a burst of duplicates does not).
 */
export class ObservationThrottle {
  private readonly passed = new Map<string, { atUs: number; key: string }>();

  constructor(private readonly everyUs: number) {}

  due(o: PeerObservation): boolean {
    const id = `${o.node}/${o.path}`;
    const key = `${o.phase}/${o.role}/${o.epoch}/${o.holdsPrimary ? 1 : 0}${o.holdsMonitor ? 1 : 0}`;
    const last = this.passed.get(id);
    if (last !== undefined && last.key === key && o.atUs - last.atUs < this.everyUs) return false;
    this.passed.set(id, { atUs: o.atUs, key });
    return true;
  }

  /** After a silence the next observation passes whatever it says. */
  forget(node: string, path: PeerPath): void {
    this.passed.delete(`${node}/${path}`);
  }
}
