import type { Action } from './types.js';

/** A structured log line, as an action (the role machine does no I/O). */
export function log(
  level: 'debug' | 'info' | 'warn' | 'error',
  event: string,
  message: string,
  fields?: Record<string, string | number | boolean | null>,
): Action {
  return fields === undefined ? { type: 'log', level, event, message } : { type: 'log', level, event, message, fields };
}

/** Asks for each of `targets` to be powered on again (off-on fencing leaves them off). */
export function powerOn(targets: readonly string[], why: string, out: Action[]): void {
  if (targets.length === 0) return;
  out.push(
    log('warn', 'power-on-fenced', `powering ${targets.join(', ')} on again: ${why}`, { targets: targets.join(',') }),
  );
  for (const target of targets) out.push({ type: 'power-on', target });
}
