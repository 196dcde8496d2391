export { PeerHeartbeat } from './heartbeat.js';
export type {
  HeartbeatOptions,
  LocalView,
  PeerMemberAddresses,
  PeerMemberStatus,
  PeerObservation,
  PeerPathStatus,
  PeerSilence,
  PeerStatus,
} from './heartbeat.js';
export { PeerKey } from './key.js';
export { decodeFrame, encodeFrame, MAJOR, MINOR, noDrops, NONCE_BYTES } from './frame.js';
export type { Decoded, DropReason, PeerFrame } from './frame.js';
export { ReplayGuard } from './replay.js';
export { peerMembers } from './members.js';
