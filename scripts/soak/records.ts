/** What a campaign records while it runs: the raw material of the checkers. Types only. */
import type { SoakFaultKind, TargetRole } from './schedule.js';

export type Gate = 'confirmed' | 'isolated' | 'lease';
export const GATES: readonly Gate[] = ['confirmed', 'isolated', 'lease'];

export interface FaultRecord {
  id: number;
  kind: SoakFaultKind;
  want: TargetRole | null;
  /** The server it hit (null: the cluster). */
  target: string | null;
  /** The role the target had when the fault started (from ground truth). */
  targetRole: string | null;
  params: Record<string, number>;
  plannedAtMs: number;
  status: 'done' | 'skipped' | 'failed';
  detail: string;
  /** Monotonic µs: injection started, applied, undone (instant faults: applied = undone). */
  startUs: number;
  appliedUs: number;
  endUs: number;
}

/** Ground truth every tick (200 ms): who holds the cluster addresses with a usable link. */
export interface HolderSample {
  atUs: number;
  primaryUp: string[];
  monitorUp: string[];
  /** Holders of the primary address in their kernel, whatever their link. */
  primary: string[];
  powered: string[];
}

export interface WriteRecord {
  file: string;
  version: number;
  server: string;
  atUs: number;
  ok: boolean;
  error?: string;
}

/** A file's version as read from one server's disk, recorded when it changes. */
export interface FileObservation {
  atUs: number;
  server: string;
  file: string;
  /** null: missing. */
  version: number | null;
  /** Set when the content does not verify (torn, mixed, truncated). */
  torn?: string;
}

/** One new holder of the primary address, with its files read before anything was written to it. */
export interface EraStart {
  atUs: number;
  server: string;
  versions: Record<string, number | null>;
}

/** The agents' own words the checkers need (transitions, fences, fatal errors). */
export interface AgentEvent {
  server: string;
  atUs: number;
  event: string;
  level: string;
  message: string;
  from?: string;
  to?: string;
  target?: string;
}

export interface PowerEvent {
  server: string;
  on: boolean;
  source: 'bmc' | 'harness';
  /**
   * When the chassis state changed (what the BMC reads from then on); the links follow by
   * `doneUs`. Absent in records made before it was recorded.
   */
  requestedUs?: number;
  /** When the power really changed (links down/up). */
  doneUs: number;
  /** When the BMC acknowledged the command. */
  commandUs: number;
}

export interface AddressEvent {
  server: string;
  atUs: number;
  added: boolean;
}

export interface Anomaly {
  atUs: number;
  server: string | null;
  what: string;
}

export interface CampaignRecord {
  seed: number;
  gate: Gate;
  /** The schedule's other inputs: with the seed and gate, what replays the run. */
  plan: { faults: number; durationMs: number; meanGapMs: number };
  /** Whether the agents' config carried `fencing.gate` (older builds know only `confirmed`, implicit). */
  gateInConfig: boolean;
  startUs: number;
  endUs: number;
  startedAt: string;
  servers: string[];
  observerIntervalMs: number;
  faults: FaultRecord[];
  holders: HolderSample[];
  writes: WriteRecord[];
  files: FileObservation[];
  eras: EraStart[];
  agentEvents: AgentEvent[];
  power: PowerEvent[];
  /** Primary address added to / deleted from a server's eth0 (ip monitor). */
  primaryAddress: AddressEvent[];
  /** Two or more servers holding the primary address on a usable link (lab.splitBrainViolations). */
  splitBrain: Array<{ startUs: number; endUs: number | null; servers: string[] }>;
  /** Observer replies: receive time µs and the answering server. */
  replies: Array<{ t: number; server: string | null }>;
  agentExits: Array<{ server: string; atUs: number; code: number | null; signal: string | null; expected: boolean }>;
  anomalies: Anomaly[];
  config: Record<string, unknown>;
}
