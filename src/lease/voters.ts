import { ip } from '../config/index.js';
import type { Config } from '../config/index.js';
import { peerMembers } from '../peer/index.js';
import type { PeerMemberAddresses } from '../peer/heartbeat.js';
import type { LeaseTiming } from './rules.js';

/**
 * The lease gate's voters: every member (spares included) and the witness when
 * `lease.witness` is set. The witness is reached on the service LAN only, like every lease
 * frame; it has no management path and sends no heartbeat.
 */
export function leaseVoters(config: Config): PeerMemberAddresses[] {
  const members = peerMembers(config);
  const w = config.lease.witness;
  return w === null ? members : [...members, { name: w.name, lan: ip(w.address), mgmt: null }];
}

/** The lease gate's timing from `lease` in microseconds: L, ρ and d_drop. */
export function leaseTiming(config: Config): LeaseTiming {
  const l = config.lease;
  return { durationUs: l.durationMs * 1000, drift: l.drift, dropUs: l.dropMs * 1000 };
}
