/** The confirmation step of mutating commands, and the penalty for wrong passwords. Pure. */
import type { MutatingCommand } from './parser.js';

export const CONFIRM_PROMPT = 'type yes to go on, anything else cancels: ';
export const PASSWORD_PROMPT = 'shell password: ';

/** What a mutating command will do, said before the operator confirms it. */
export function consequence(command: MutatingCommand, node: string): string {
  switch (command.name) {
    case 'promote':
      return `promote ${node}: a monitor fences the server holding the primary address and takes over now; a spare reboots as monitor.`;
    case 'demote':
      return `demote ${node}: this server gives up the primary address and becomes a spare; the monitor fences it and takes over.`;
    case 'maintenance':
      return command.on
        ? `maintenance on ${node}: no probing, fencing, claiming or health checks; what this server holds stays held.`
        : `maintenance off ${node}: this server takes part again (probing, defending, checking).`;
    case 'fence':
      return `fence ${command.node}: power it off (or cycle it) through its BMC now.`;
  }
}

/** Only the word yes confirms (any case, surrounding blanks ignored). */
export function isConfirmation(answer: string): boolean {
  return answer.trim().toLowerCase() === 'yes';
}

export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 30_000;

/** The wait after the n-th failed password in a row: 1 s, 2 s, 4 s, ... up to 30 s. */
export function delayAfterFailures(failures: number): number {
  if (failures < 1) return 0;
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(failures - 1, 30));
}
