import type { PeerMemberStatus, PeerStatus } from './heartbeat.js';

/** The member that took the primary address over after this server released it. */
export interface HandoverTaker {
  node: string;
  epoch: number;
}

/**
 * The acknowledgement of a handover: a member whose latest authenticated heartbeat, heard
 * after the release (`releasedMsAgo` milliseconds ago), says it holds the primary address at
 * an epoch above `heldEpoch`, the epoch at which this server held it. A claim is only made at
 * an epoch above every one seen, so such a heartbeat can only follow the takeover; a frame
 * heard before the release (a stale view of a member) does not count. Null: no such member yet.
 */
export function handoverTaker(status: PeerStatus, heldEpoch: number, releasedMsAgo: number): HandoverTaker | null {
  for (const m of status.members) {
    if (!m.holdsPrimary || m.epoch === null || m.epoch <= heldEpoch) continue;
    const heard = heardMsAgo(m);
    if (heard !== null && heard < releasedMsAgo) return { node: m.node, epoch: m.epoch };
  }
  return null;
}

/** Milliseconds since the member's last authenticated frame on any path; null: never heard. */
function heardMsAgo(m: PeerMemberStatus): number | null {
  const ages = [m.lan?.heardMsAgo, m.mgmt?.heardMsAgo].filter((a): a is number => typeof a === 'number');
  return ages.length === 0 ? null : Math.min(...ages);
}
