import type { LeaseEnforcer } from '../../hal/lease/index.js';
import type { IsolatorFactory } from '../../hal/isolation/index.js';
import type { BmcFactory } from '../../hal/bmc/index.js';
import type { FenceLevels } from './power.js';
import type { Clock } from '../../hal/clock/index.js';
import type { IcmpEcho } from '../../hal/icmp/index.js';
import type { Nic } from '../../hal/nic/index.js';
import type { PeerTransport } from '../../hal/peer/index.js';
import type { Prober } from '../../hal/prober/index.js';
import type { Store } from '../../hal/store/index.js';
import type { Config } from '../config/index.js';
import type { EventLog } from '../log/index.js';
import type { LeaseCallbacks, LeaseHandle } from '../lease/handle.js';
import type { PeerKey } from '../peer/index.js';

/** Runs a shell command (hooks, health checks). */
export interface CommandRunner {
  run(command: string, env: Record<string, string>, timeoutMs: number): Promise<CommandResult>;
}

export interface CommandResult {
  ok: boolean;
  /** Exit code, or the signal / `timeout` that ended it. */
  status: string;
  /** The tail of stdout and stderr, for the log. */
  output: string;
}

/**
 * Replication of the primary's key files to the monitor (patent [0010], [0027]).
 * - `serve(ip)`: called when this server becomes primary; serves its files on `ip`.
 * - `stopServing()`: called when it stops being primary (also on shutdown).
 * - `sync(ip)`: called by a monitor every `sync.every_probes` answered probes; pulls what
 *   changed from the primary at `ip`. Must not run twice at once (resolve at once with
 *   `skipped: true` if a sync is still running).
 */
export interface Replicator {
  serve(primaryIp: string): Promise<void>;
  stopServing(): Promise<void>;
  /** `preempt`: a pull already running is abandoned first (a handover's final sync), not this one skipped. */
  sync(primaryIp: string, options?: { preempt?: boolean }): Promise<SyncResult>;
}

export interface SyncResult {
  skipped: boolean;
  files: number;
  bytes: number;
  deleted: number;
}

/**
 * The peer heartbeat's device and secrets, when `peer.key_file` is set: the transport bound
 * to this member's addresses, the key read from the file, and this process's boot nonce.
 */
export interface PeerPorts {
  transport: PeerTransport;
  key: PeerKey;
  nonce: Uint8Array;
}

/** What `reboot` does when the board says `exit` or `system`. */
export interface Rebooter {
  exit(code: number): void;
  system(): void;
}

/** Everything the agent needs from the outside; the core imports interfaces only. */
export interface AgentPorts {
  config: Config;
  clock: Clock;
  icmp: IcmpEcho;
  /** Runs the monitor's probe cadence (as `probe.engine` says), reporting in batches. */
  prober: Prober;
  nic: Nic;
  bmcs: BmcFactory;
  /** Drops the primary address when the lease runs out (`fencing.gate: lease`); absent: none. */
  leaseEnforcer?: LeaseEnforcer | null;
  /**
   * Runs the lease service elsewhere (`lease.thread: worker`: a worker thread with its own
   * enforcer, which `peer.transport` then goes through). Absent or null: the lease service
   * runs on the agent's event loop with `leaseEnforcer`.
   */
  leaseRunner?: ((callbacks: LeaseCallbacks) => LeaseHandle) | null;
  /** Isolation devices (switch ports) of the members that have one; absent: none. */
  isolators?: IsolatorFactory | null;
  /** Each member's fencing levels (its BMC, then other devices); absent or null: the BMC alone. */
  fenceLevels?: FenceLevels | null;
  store: Store;
  log: EventLog;
  commands: CommandRunner;
  replicator: Replicator | null;
  /** Absent or null: no peer heartbeat (also when the config does not turn it on). */
  peer?: PeerPorts | null;
  rebooter: Rebooter;
  /** Seeds the role machine's jitter; differs per server. */
  seed: number;
  /** Written one line per role transition, like kernel messages (the serial console). */
  console?: (line: string) => void;
}
