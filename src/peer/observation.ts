import type { PersistedRole } from '../../hal/store/index.js';
import type { PeerPath, Phase } from '../role/types.js';

/** What a member says of itself in its heartbeat. */
export interface LocalView {
  phase: Phase;
  role: PersistedRole;
  epoch: number;
  holdsPrimary: boolean;
  holdsMonitor: boolean;
}

export interface PeerObservation extends LocalView {
  node: string;
  path: PeerPath;
  /** Receive time on the agent's monotonic clock. */
  atUs: number;
}
