/**
 * Prober: the monitor's probe cadence as a device, the only way the monitor probes. It sends
 * a probe to the target every interval, on absolute deadlines, and tells its listener what
 * came of them in batches: answered probes counted and handed over every `batch` answers, a
 * miss (no answer within the timeout) handed over at once, and the first answer of the run
 * and the first after a miss at once too (so the monitor learns the holder without waiting
 * for a batch).
 *
 * Engines (`probe.engine`): `native`, a thread in an N-API addon (native.ts); `event-loop`,
 * the same cadence in TypeScript on a Clock (event-loop.ts), over a ProbeChannel: ICMP echo
 * (echo-channel.ts), on Linux or on the simulated LAN.
 *
 * Contract:
 * - Order is kept: the answers counted before a miss arrive in the same batch as the miss
 *   or an earlier one; a batch carries at most one miss.
 * - Each run is a conversation of its own: its probes are numbered from sequence 1 (wrapping
 *   from 65535 to 1) and carry an identifier no other run or probe of this agent has, so an
 *   answer to an earlier run or to an operator's probe never counts.
 * - A probe counts as answered only by an answer from the target to a probe still
 *   outstanding; an answer of the run to no outstanding probe (late, duplicate) is `dropped`.
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
  /** Whom the run probes: for ICMP echo an IPv4 address, no prefix length. */
  target: string;
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
  /** Answers of this run to no outstanding probe (late, duplicate, malformed). */
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

/**
 * What the event-loop engine sends one run's probes over. ICMP echo is one channel
 * (echo-channel.ts); an authenticated UDP heartbeat between members is another of the same
 * shape: the cadence, timeouts and batches stay the engine's.
 */
export interface ProbeChannels {
  /** What the probes travel as, for the engine's description. */
  readonly description: string;
  /**
   * Opens one run's channel to `target`. `onAnswer` hears only answers of this run (for ICMP
   * echo: from the target, with the run's identifier); which sequence is outstanding is the
   * engine's business. Throws `IcmpError` when the channel cannot be opened.
   */
  open(target: string, timeoutUs: number, onAnswer: (answer: ProbeAnswer) => void): ProbeChannel;
}

export interface ProbeAnswer {
  sequence: number;
  receivedUs: number;
}

export interface ProbeChannel {
  /** Sends probe `sequence`; throws when the channel cannot be used any more. */
  send(sequence: number): void;
  /** After it returns no answer is heard; idempotent. */
  close(): void;
}

/** Answers per batch for a probe interval: about two hand-overs a second, at least one answer. */
export function batchFor(intervalUs: number): number {
  return Math.max(1, Math.floor(500_000 / Math.max(1, intervalUs)));
}
