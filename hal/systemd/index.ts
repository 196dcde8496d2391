/**
 * The service manager and the system journal, as the agent sees them under systemd.
 *
 * Contract (both implementations):
 * - `ServiceManager.notify(fields)` sends one sd_notify message (`READY=1`, `WATCHDOG=1`,
 *   `STATUS=...`, `STOPPING=1`, `RELOADING=1`) and returns whether it was sent. Without a
 *   manager (`supervised` false) it sends nothing and returns false. It never throws: a lost
 *   notification is the manager's to notice (a watchdog ping missed, a start timeout).
 * - `watchdogUs` is the period within which the manager expects `WATCHDOG=1` (systemd's
 *   WatchdogSec), or null when no watchdog watches this process.
 * - `Journal.send(fields)` writes one entry of KEY=value fields (keys `[A-Z0-9_]`, not
 *   starting with `_`; values any text, newlines included) and returns whether journald took
 *   it. It never throws and never blocks: when journald is busy the entry is dropped (false)
 *   and the caller may write it elsewhere.
 */
export interface ServiceManager {
  readonly supervised: boolean;
  readonly watchdogUs: number | null;
  notify(fields: Readonly<Record<string, string>>): boolean;
}

export interface Journal {
  send(fields: ReadonlyArray<readonly [string, string]>): boolean;
}

/** A journal field name as journald accepts it: upper case, digits, `_`, not leading `_`. */
export function journalKey(name: string): string {
  const key = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .replace(/^[_0-9]+/, '');
  return key === '' ? 'FIELD' : key.slice(0, 64);
}
