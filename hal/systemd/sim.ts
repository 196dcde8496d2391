/** The service manager and the journal in memory, for tests: everything sent is kept. */
import type { Journal, ServiceManager } from './index.js';

export class SimServiceManager implements ServiceManager {
  readonly supervised = true;
  readonly sent: Array<Readonly<Record<string, string>>> = [];

  constructor(readonly watchdogUs: number | null = null) {}

  notify(fields: Readonly<Record<string, string>>): boolean {
    this.sent.push({ ...fields });
    return true;
  }

  /** The messages that carried `key` (e.g. `WATCHDOG`), in order. */
  with(key: string): Array<Readonly<Record<string, string>>> {
    return this.sent.filter((m) => key in m);
  }
}

export class SimJournal implements Journal {
  readonly entries: Array<Map<string, string>> = [];
  /** Test control: refuse entries, as a journald that is busy or gone. */
  refuse = false;

  send(fields: ReadonlyArray<readonly [string, string]>): boolean {
    if (this.refuse) return false;
    this.entries.push(new Map(fields));
    return true;
  }
}
