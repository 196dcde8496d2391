/**
 * Where the RMCP+ client notes the sessions it holds open on BMCs, so that a later run of the
 * agent can close what a killed or crashed run left open (BMCs allow only a few sessions per
 * channel: OpenBMC 15, some 4; a leftover occupies a slot until the BMC times it out).
 *
 * - `opened` is told after a session is established, `closed` once it is closed or given up
 *   (Close Session sent, or the BMC is believed to have forgotten it). Neither throws: a
 *   journal that cannot write reports it through its own log and the session carries on.
 * - `leftovers()` names the sessions a previous run noted and never closed.
 * - A record holds no secret: the BMC's address and its session ID (which alone gives nothing:
 *   closing it still needs an authenticated administrator session).
 */
export interface SessionRecord {
  /** The member whose BMC it is (informative: the BMC is identified by host and port). */
  member: string;
  host: string;
  port: number;
  /** The managed system's (BMC's) session ID, the one Close Session names. */
  bmcSessionId: number;
}

export interface SessionJournal {
  opened(record: SessionRecord): void;
  closed(record: SessionRecord): void;
  /** Sessions a previous run noted and that are not closed yet. */
  leftovers(): readonly SessionRecord[];
}

/** The same BMC session (host, port and session ID). */
export function sameSession(a: SessionRecord, b: SessionRecord): boolean {
  return a.host === b.host && a.port === b.port && a.bmcSessionId === b.bmcSessionId;
}

/** A journal in memory only (tests, and when no state directory is wanted). */
export class MemorySessionJournal implements SessionJournal {
  /** Sessions believed open now: the leftovers not yet closed, and this run's. */
  readonly open: SessionRecord[];
  private readonly initial: readonly SessionRecord[];

  constructor(leftovers: readonly SessionRecord[] = []) {
    this.initial = leftovers.map((record) => ({ ...record }));
    this.open = leftovers.map((record) => ({ ...record }));
  }

  opened(record: SessionRecord): void {
    if (!this.open.some((r) => sameSession(r, record))) this.open.push({ ...record });
  }

  closed(record: SessionRecord): void {
    const at = this.open.findIndex((r) => sameSession(r, record));
    if (at >= 0) this.open.splice(at, 1);
  }

  leftovers(): readonly SessionRecord[] {
    return this.initial.filter((record) => this.open.some((r) => sameSession(r, record)));
  }
}
