import type { LogLine } from '../log/index.js';
import type { OperatorCommand, Phase } from '../role/index.js';
import type { SyncResult } from './ports.js';
import type { PowerReading } from './power-reading.js';
import type { AgentStatus, Transition } from './status.js';

export interface CommandOutcome {
  accepted: boolean;
  from: Phase;
  to: Phase;
  message: string;
}

export interface EchoResult {
  sequence: number;
  /** null: no reply within the timeout. */
  rttUs: number | null;
}

/** What the maintenance shell and the control socket may ask of a running agent. */
export interface Operator {
  status(): Promise<AgentStatus>;
  transitions(): readonly Transition[];
  recentLog(count: number): LogLine[];
  effectiveConfig(): Record<string, unknown>;
  command(command: OperatorCommand): CommandOutcome;
  probe(address: string, count: number, timeoutMs?: number): Promise<EchoResult[]>;
  /** The member's power through each fencing level, and its switch port. */
  bmcStatus(member: string): Promise<PowerReading>;
  fenceMember(member: string): Promise<string>;
  /** The monitor's sync, now. null: it failed (the reason is in status().sync.lastError). */
  syncNow(): Promise<SyncResult | null>;
}
