/** One server of the lab as the harness keeps it: its plan, files, power, processes and faults. */
import type { AgentPaths } from './agent-config.js';
import type { BmcFiles } from './bmc-sim.js';
import type { ManagedProcess } from './children.js';
import type { FaultKind } from './fault-kinds.js';
import type { IpBatch } from './ip-batch.js';
import type { ServerPlan } from './topology.js';

export interface LabServer {
  readonly plan: ServerPlan;
  readonly paths: AgentPaths;
  readonly bmcFiles: BmcFiles;
  powered: boolean;
  agent: ManagedProcess | null;
  bmc: ManagedProcess | null;
  /** The Redfish BMC process, with LabOptions.redfish. */
  redfish: ManagedProcess | null;
  serial: ManagedProcess | null;
  batch: IpBatch | null;
  readonly faults: Set<FaultKind>;
  agentStarts: number;
  readonly agentExits: Array<{ atUs: number; code: number | null; signal: string | null; expected: boolean }>;
}
