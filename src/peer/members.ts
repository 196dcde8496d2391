import { ip } from '../config/index.js';
import type { Config } from '../config/index.js';
import type { PeerMemberAddresses } from './heartbeat.js';

/** Every member's peer addresses from the config, without prefix lengths. */
export function peerMembers(config: Config): PeerMemberAddresses[] {
  return config.cluster.members.map((m) => ({
    name: m.name,
    lan: m.address === null ? null : ip(m.address),
    mgmt: m.mgmtAddress === null ? null : ip(m.mgmtAddress),
  }));
}
