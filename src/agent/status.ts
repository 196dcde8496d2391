import type { LeaseStatus } from '../lease/service.js';
import type { PersistedRole } from '../../hal/store/index.js';
import type { PeerStatus } from '../peer/index.js';
import type { Phase } from '../role/index.js';
import type { FenceAttempt } from './power.js';
import type { SampleSummary } from './samples.js';

export interface Transition {
  atMs: number;
  atUs: number;
  from: Phase;
  to: Phase;
  role: PersistedRole;
  epoch: number;
  reason: string;
}

/** What `hotspare status` shows; contains no secrets. */
export interface AgentStatus {
  /** The agent's version (`hotspare --version`); added by `hotspare run`, absent in simulations. */
  version?: string;
  node: string;
  role: PersistedRole;
  phase: Phase;
  epoch: number;
  linkUp: boolean;
  /** Operator maintenance: holding what it holds, deciding nothing. */
  maintenance: boolean;
  held: string[];
  primaryAddress: string;
  monitorAddress: string;
  holder: string | null;
  misses: number;
  fence: { status: string; target: string | null; attempt: number };
  probes: {
    probesSent: number;
    replies: number;
    /** Answers of the probe run to no outstanding probe: late, duplicate or malformed. */
    foreignReplies: number;
    misses: number;
    syncs: number;
    syncErrors: number;
    fences: number;
    fenceFailures: number;
  };
  rttUs: SampleSummary;
  probeJitterUs: SampleSummary;
  sync: SyncStatus;
  /** The peer heartbeat: each member heard per path, what it says, the highest epoch; null: off. */
  peers: PeerStatus | null;
  /** The lease service (`fencing.gate: lease`): this server as voter and as holder. */
  lease: LeaseStatus | null;
  transitions: Transition[];
  /** The last fence attempts, oldest first: each fencing level tried and each switch-port cut. */
  fenceHistory: FenceAttempt[];
  uptimeS: number;
}

export interface SyncStatus {
  /** Syncs asked for by the role machine (every sync.every_probes answered probes). */
  requested: number;
  completed: number;
  failed: number;
  /** Wall-clock ms of the last completed sync, and how long ago that was. */
  lastOkAtMs: number | null;
  lagMs: number | null;
  lastFiles: number;
  lastBytes: number;
  totalBytes: number;
  lastError: string | null;
  serving: boolean;
}
