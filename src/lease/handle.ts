import type { LogFields } from '../log/index.js';
import type { LogLevel } from '../role/types.js';

/**
 * This server's lease service as the executor drives it (src/agent/peer-links.ts): the
 * `LeaseService` itself on the agent's event loop, or a `LeaseThread` that runs it on a
 * worker thread of its own (`lease.thread`).
 */
export interface LeaseHandle {
  /** Asks for the lease at `epoch` now and every renewal period until `release`. */
  acquire(epoch: number): void;
  /** Gives the lease up; released to the voters once the address is gone. */
  release(): void;
  /** The primary address was assigned: the enforcer is told the current deadline again. */
  reassert(): void;
  /** The primary address left this server's kernel. */
  addressGone(): void;
  /** Microseconds of lease left now (0: none, or it ran out). */
  leftUs(): number;
  status(): LeaseStatus;
  stop(): void;
}

/** What the lease service tells the agent. */
export interface LeaseCallbacks {
  onHeld: (epoch: number, detail: string) => void;
  onLost: (epoch: number, detail: string) => void;
  /** This server gave its claim (never held) up to a higher one. */
  onYield: (epoch: number, detail: string) => void;
  log: (level: LogLevel, event: string, message: string, fields?: LogFields) => void;
}

/** What `hotspare status` shows of the lease service. */
export interface LeaseStatus {
  voter: { highestEpoch: number; promisedTo: string | null; promiseMsLeft: number | null; quietMsLeft: number };
  holder: { epoch: number; held: boolean; msLeft: number | null } | null;
  grantsSent: number;
  refusalsSent: number;
  dropped: number;
  /** Rounds of this server's own lease that went out more than a renewal period late. */
  lateRequests: number;
  /** The longest delay among them, in ms (null: none since start). */
  worstLateMs: number | null;
}
