export { Agent } from './agent.js';
export { machineConfig } from './machine-config.js';
export { Samples } from './samples.js';
export type { SampleSummary } from './samples.js';
export type { AgentPorts, CommandResult, CommandRunner, PeerPorts, Rebooter, Replicator, SyncResult } from './ports.js';
export type { AgentStatus, Transition } from './status.js';
export type { CommandOutcome, EchoResult, Operator } from './operator.js';
export { FenceFailedError, PowerControl } from './power.js';
export type { FenceAttempt, FenceDone, FenceLevel, FenceLevels } from './power.js';
