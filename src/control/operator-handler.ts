import type { Operator } from '../agent/index.js';
import type { ControlHandler } from './server.js';

const USAGE =
  'status | history | log [N] | config | probe ADDR [COUNT] | bmc-status NODE | fence NODE | promote | demote | maintenance on|off';

/**
 * The control socket's commands, mapped onto the agent's operator interface. The socket
 * is root's only (0600); the maintenance shell adds confirmation and a password on top.
 */
export function operatorHandler(operator: Operator): ControlHandler {
  return async (command, args) => {
    switch (command) {
      case 'status':
        return operator.status();
      case 'history':
        return operator.transitions();
      case 'log':
        return operator.recentLog(count(args[0], 50, 1000));
      case 'config':
        return operator.effectiveConfig();
      case 'probe': {
        const address = args[0];
        if (address === undefined || !/^\d{1,3}(\.\d{1,3}){3}$/.test(address))
          throw new Error('probe needs an IPv4 address: probe ADDR [COUNT]');
        return operator.probe(address, count(args[1], 3, 100));
      }
      case 'bmc-status':
        return {
          member: need(args[0], 'bmc-status NODE'),
          power: await operator.bmcStatus(need(args[0], 'bmc-status NODE')),
        };
      case 'fence':
        return { member: need(args[0], 'fence NODE'), result: await operator.fenceMember(need(args[0], 'fence NODE')) };
      case 'promote':
      case 'demote':
        return operator.command(command);
      case 'maintenance': {
        const mode = args[0];
        if (mode !== 'on' && mode !== 'off') throw new Error('maintenance needs on or off');
        return operator.command(mode === 'on' ? 'maintenance-on' : 'maintenance-off');
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(command)} (known: ${USAGE})`);
    }
  };
}

function count(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`count must be a whole number from 1 to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

function need(value: string | undefined, usage: string): string {
  if (value === undefined || value === '') throw new Error(`usage: ${usage}`);
  return value;
}
