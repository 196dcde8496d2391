/** What the agent's thread and the lease worker thread (./worker.ts) tell each other. */
import type { NativeMode } from '../../../hal/clock/native/open.js';
import type { PeerBinding, PeerDatagram, PeerPathName } from '../../../hal/peer/index.js';
import type { LogFields } from '../../log/index.js';
import type { PeerMemberAddresses } from '../../peer/heartbeat.js';
import type { LogLevel } from '../../role/types.js';
import type { LeaseTiming } from '../rules.js';
import type { LeaseStatus } from '../service.js';

/** How often the worker sends the service's status (what `hotspare status` shows). */
export const STATUS_EVERY_MS = 200;

export interface LeaseWorkerData {
  self: string;
  /** The lease's voters (members and a witness). */
  voters: PeerMemberAddresses[];
  port: number;
  /** `PeerKey.derivedForWorker()`: zeroed by the worker once it has its key. */
  key: Uint8Array;
  nonce: Uint8Array;
  timing: LeaseTiming;
  renewUs: number;
  /** The peer sockets this worker binds (every path: heartbeats go through it too). */
  bindings: PeerBinding[];
  /** The enforcer this worker runs (interface, address with prefix); null: none (tests). */
  enforcer: { iface: string; cidr: string } | null;
  /** The worker's own clock (`clock.native`) and SCHED_FIFO priority (`clock.realtime`, one above). */
  clockOptions: { native: NativeMode; realtime: number };
  /** One of two twin lease threads (`lease.thread: twins`); null: the only one. */
  twin: TwinData | null;
}

/**
 * What a twin lease thread needs besides the rest (README "Takeover gates", `twins`). Twin 0
 * binds every peer socket on `port` and runs the enforcer; twin 1 binds the service LAN
 * only, on `twinPort`, and gives the enforcer its deadlines through the channel's slot 1.
 * Each pins itself to the CPU of its index among those it may run on.
 */
export interface TwinData {
  index: 0 | 1;
  /** SharedVoterCell's buffer: the voter state and frame counter both twins share. */
  cell: SharedArrayBuffer;
  /**
   * Each twin's lease end (BigInt64 µs per twin, -1: none), written by the twin at every
   * change and read by the agent's thread: no message per grant, so a twin never waits on
   * the agent's message queue (whose lock the agent's thread may hold when its CPU stops).
   */
  ends: SharedArrayBuffer;
  /** The enforcer's channel in the timer addon (null: no enforcer, tests). */
  channelId: number | null;
  twinPort: number;
  /** The members that run twins: twin 1 asks theirs on `twinPort` (every member; not a witness). */
  twinMembers: string[];
}

/** Twin 1's requests count from here: never the same sequence number as twin 0's. */
export const TWIN_SEQ_BASE = 1_000_000_000_000;

export type ToLeaseWorker =
  | { type: 'send'; path: PeerPathName; address: string; port: number; data: Uint8Array }
  | { type: 'acquire'; epoch: number }
  | { type: 'release' }
  /** The primary address is in this server's kernel now (`reassert` follows). */
  | { type: 'assigned' }
  /** The primary address left this server's kernel. */
  | { type: 'gone' }
  /** Twin 1: the enforcer (twin 0's) removed the address at `deadlineUs`. */
  | { type: 'enforced'; lateUs: number; deadlineUs: number | null }
  | { type: 'stop' };

export type FromLeaseWorker =
  /** The worker runs: its clock and scheduler, for the agent's log. */
  | { type: 'ready'; description: string }
  /** A datagram that is no lease frame (a heartbeat), for the agent's thread. */
  | { type: 'datagram'; datagram: PeerDatagram }
  | { type: 'bound'; path: PeerPathName; address: string }
  | { type: 'bind-problem'; path: PeerPathName; address: string; detail: string }
  /** The lease's end (null: none), after every change. */
  | { type: 'state'; untilUs: number | null }
  /** The service's status, every `STATUS_EVERY_MS` and before a `held`, `lost` or `yield`. */
  | { type: 'status'; status: LeaseStatus }
  | { type: 'held' | 'yield'; epoch: number; detail: string }
  | { type: 'lost'; epoch: number; detail: string; byEnforcer: boolean }
  /** Twin 0: the enforcer removed the address at `deadlineUs` (for twin 1). */
  | { type: 'enforced'; lateUs: number; deadlineUs: number | null }
  | { type: 'log'; level: LogLevel; event: string; message: string; fields: LogFields };
