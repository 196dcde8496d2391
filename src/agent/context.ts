import type { LogFields } from '../log/index.js';
import type { Event, LogLevel, MachineConfig, RoleState, StepResult } from '../role/index.js';
import type { AgentPorts } from './ports.js';
import type { AgentStatus } from './status.js';

/** What `hotspare status` counts, kept by the executor's parts that count it. */
export type AgentCounters = AgentStatus['probes'];

export function newCounters(): AgentCounters {
  return {
    probesSent: 0,
    replies: 0,
    foreignReplies: 0,
    misses: 0,
    syncs: 0,
    syncErrors: 0,
    fences: 0,
    fenceFailures: 0,
  };
}

/**
 * What the executor's parts (fencing, replication, addresses, probing, health, peers,
 * operator commands) share with its core: the devices, the machine's config, the clock
 * and the log, the role state as it is now, and the one way back in, an event for the role
 * machine.
 */
export interface ExecutorContext {
  readonly ports: AgentPorts;
  readonly mc: MachineConfig;
  /** The primary address without its prefix: what the monitor probes and syncs from. */
  readonly primaryIp: string;
  readonly counters: AgentCounters;
  now(): number;
  log(level: LogLevel, event: string, text: string, fields?: LogFields): void;
  /** Feeds an event to the role machine; its actions join the queue. */
  dispatch(event: Event): StepResult;
  state(): RoleState;
  /** The agent was stopped: start nothing new. */
  stopped(): boolean;
}

/** The executor's structured log line, stamped with the clock and this node. */
export function logTo(ports: AgentPorts): ExecutorContext['log'] {
  return (level, event, text, fields = {}) =>
    ports.log.emit({
      atMs: ports.clock.wallMs(),
      atUs: ports.clock.nowUs(),
      level,
      node: ports.config.node,
      event,
      message: text,
      fields,
    });
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
