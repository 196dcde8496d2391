import type { PoweredOffAt } from '../../hal/store/index.js';
import type { Action, MachineConfig } from './types.js';

/** A structured log line, as an action (the role machine does no I/O). */
export function log(
  level: 'debug' | 'info' | 'warn' | 'error',
  event: string,
  message: string,
  fields?: Record<string, string | number | boolean | null>,
): Action {
  return fields === undefined ? { type: 'log', level, event, message } : { type: 'log', level, event, message, fields };
}

/**
 * Asks for each of `targets` to be powered on again (off-on fencing leaves them off).
 * `waitOffUntilUs`: the off sent to them may still be pending in their BMCs until then (see
 * `offMayBePending`): each on waits for the power to read off first, up to that time.
 */
export function powerOn(targets: readonly string[], why: string, out: Action[], waitOffUntilUs?: number): void {
  if (targets.length === 0) return;
  out.push(
    log('warn', 'power-on-fenced', `powering ${targets.join(', ')} on again: ${why}`, { targets: targets.join(',') }),
  );
  for (const target of targets)
    out.push(
      waitOffUntilUs === undefined ? { type: 'power-on', target } : { type: 'power-on', target, waitOffUntilUs },
    );
}

/**
 * Until when an off this server sent may still be pending in a BMC: `fencing.power_timeout_ms`
 * after it was sent, the longest a fence waits for the power to go off. Undefined when that
 * is past. When the off's time cannot be compared with `nowUs` (stamped on another boot, an
 * unknown boot, or not stamped: a record from before the stamp), how long ago it went is
 * unknown, so the on waits as if it had just gone: up to that long from now. A member that
 * reads off is powered on at once either way; one that reads on for that long is powered on
 * then (an on to a server that is on changes nothing).
 */
export function offMayBePending(
  c: MachineConfig,
  at: PoweredOffAt | null | undefined,
  bootId: string,
  nowUs: number,
): number | undefined {
  if (at === null || at === undefined || bootId === '' || at.bootId !== bootId) return nowUs + c.fencing.powerTimeoutUs;
  const untilUs = at.atUs + c.fencing.powerTimeoutUs;
  return untilUs > nowUs ? untilUs : undefined;
}

/** The persist fields of members powered off and when: none when the list is empty. */
export function poweredOffFields(
  poweredOff: readonly string[],
  at: PoweredOffAt | null,
): { poweredOff?: readonly string[]; poweredOffAt?: PoweredOffAt } {
  if (poweredOff.length === 0) return {};
  return at === null ? { poweredOff } : { poweredOff, poweredOffAt: at };
}
