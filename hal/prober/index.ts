/**
 * Prober: the monitor's probe cadence as a device. It sends an ICMP echo to the target
 * every interval, on absolute deadlines, and tells its listener what came of them in
 * batches: answered probes counted and handed over every `batch` answers, a miss (no reply
 * within the timeout) handed over at once, and the first answer of the run and the first
 * after a miss at once too (so the monitor learns the holder without waiting for a batch).
 *
 * Contract:
 * - Order is kept: the answers counted before a miss arrive in the same batch as the miss
 *   or an earlier one; a batch carries at most one miss.
 * - A probe counts as answered only by an echo reply from the target with the run's
 *   identifier and the sequence of a probe still outstanding; anything else is `dropped`.
 * - `lateUs` has one entry per probe sent since the previous batch: how late it left
 *   compared with its deadline, in µs.
 * - After `stop()` returns, the listener is not called again. `stop()` is idempotent.
 * - A run that cannot go on (its socket failed) calls `onError` once and stops.
 * - `start` throws `IcmpError` when the run cannot begin (no CAP_NET_RAW, bad options).
 */
export interface Prober {
  /** What the probes run on, for the agent's start-up log line. */
  readonly description: string;
  start(options: ProbeRunOptions, onBatch: (batch: ProbeBatch) => void, onError: (error: Error) => void): ProbeRun;
}

export interface ProbeRunOptions {
  /** IPv4 address probed, no prefix length. */
  target: string;
  /** Source address of the probes (the monitor address); null: the kernel chooses. */
  source: string | null;
  identifier: number;
  /** 1..65535; sequences then count up and wrap from 65535 to 1. */
  firstSequence: number;
  intervalUs: number;
  timeoutUs: number;
  /** Monotonic µs of the first probe; the others follow every `intervalUs` from it. */
  startUs: number;
  /** Answers counted before they are handed over (at least 1). */
  batch: number;
}

export interface ProbeBatch {
  answered: number;
  /** Of the last answer in this batch; null when `answered` is 0. */
  lastReplyUs: number | null;
  lastRttUs: number | null;
  /** Sequence of a probe that timed out, after the answers of this batch; null: none. */
  missed: number | null;
  lateUs: readonly number[];
  /** Packets seen by the run that were no answer to one of its outstanding probes. */
  dropped: number;
}

export interface ProbeRun {
  stop(): void;
  stats(): ProbeStats;
}

export interface ProbeStats {
  sent: number;
  answered: number;
  missed: number;
  dropped: number;
}

/** Answers per batch for a probe interval: about two hand-overs a second, at least one answer. */
export function batchFor(intervalUs: number): number {
  return Math.max(1, Math.floor(500_000 / Math.max(1, intervalUs)));
}
