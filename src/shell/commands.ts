/**
 * Runs a parsed shell command against the agent's operator interface and returns its text.
 * Session matters (confirmation, password, colour, exit) are the session's; this file only
 * asks the agent and formats. Errors come back as rejections with a message for the operator.
 */
import type { Operator } from '../agent/index.js';
import {
  formatConfig,
  formatHistory,
  formatLog,
  formatOutcome,
  formatPowerReading,
  formatProbe,
  formatStatus,
  formatSyncResult,
  formatSyncStatus,
  printable,
} from './format.js';
import type { ShellCommand } from './parser.js';

/** Commands that need the agent (not help, color or exit, which the session answers itself). */
export type AgentCommand = Exclude<ShellCommand, { name: 'help' | 'color' | 'exit' }>;

export async function runCommand(command: AgentCommand, operator: Operator): Promise<string> {
  switch (command.name) {
    case 'status':
      return formatStatus(await operator.status());
    case 'history':
      return formatHistory(operator.transitions());
    case 'probe':
      return formatProbe(command.address, await operator.probe(command.address, command.count));
    case 'bmc':
      return formatPowerReading(await operator.bmcStatus(command.node));
    case 'log':
      return formatLog(operator.recentLog(command.count));
    case 'config':
      return formatConfig(operator.effectiveConfig());
    case 'sync': {
      if (command.action === 'status') return formatSyncStatus((await operator.status()).sync);
      const result = await operator.syncNow();
      return formatSyncResult(result, (await operator.status()).sync);
    }
    case 'promote':
    case 'demote':
      return formatOutcome(operator.command(command.name));
    case 'maintenance':
      return formatOutcome(operator.command(command.on ? 'maintenance-on' : 'maintenance-off'));
    case 'fence':
      return `fenced ${command.node}: ${printable(await operator.fenceMember(command.node))}\n`;
  }
}
