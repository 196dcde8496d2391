/**
 * The RMCP+ client's session journal (hal/bmc/rmcp/session-journal.ts) kept in a file under
 * the agent's state directory, `bmc-sessions.json`: the BMC sessions this agent holds open,
 * so that the next run closes what a killed or crashed run left open (issue 12 #16b).
 *
 * - The file holds host, port, member and the BMC's session ID per session: no password, no
 *   key. It is written whole at every change, synchronously (a temporary file in the same
 *   directory, mode 0600, fsynced, renamed over it): a session open or close is rare, and a
 *   SIGKILL right after `opened` returns still finds the session on disk.
 * - A missing file is an empty journal; an unreadable or corrupt one is reported through
 *   `log` and treated as empty (its sessions then time out on the BMC as before).
 * - A write that fails is reported through `log`; the sessions carry on.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sameSession } from '../../hal/bmc/rmcp/session-journal.js';
import type { SessionJournal, SessionRecord } from '../../hal/bmc/rmcp/session-journal.js';

export const SESSION_JOURNAL_FILE = 'bmc-sessions.json';

export class FileSessionJournal implements SessionJournal {
  readonly file: string;
  private readonly open: SessionRecord[];
  private readonly initial: readonly SessionRecord[];
  private readonly log: (message: string) => void;

  /** Reads `<stateDir>/bmc-sessions.json` (the previous run's sessions). */
  constructor(stateDir: string, log: (message: string) => void = () => undefined) {
    this.file = join(stateDir, SESSION_JOURNAL_FILE);
    this.log = log;
    this.initial = this.read();
    this.open = this.initial.map((record) => ({ ...record }));
  }

  opened(record: SessionRecord): void {
    if (this.open.some((r) => sameSession(r, record))) return;
    this.open.push({ ...record });
    this.write();
  }

  closed(record: SessionRecord): void {
    const at = this.open.findIndex((r) => sameSession(r, record));
    if (at < 0) return;
    this.open.splice(at, 1);
    this.write();
  }

  leftovers(): readonly SessionRecord[] {
    return this.initial.filter((record) => this.open.some((r) => sameSession(r, record)));
  }

  /** The sessions noted open now. */
  get current(): readonly SessionRecord[] {
    return this.open;
  }

  private read(): SessionRecord[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log(`cannot read ${this.file}: ${describe(error)}; its sessions are left to time out`);
      }
      return [];
    }
    try {
      const value = JSON.parse(text) as unknown;
      const sessions = (value as { sessions?: unknown } | null)?.sessions;
      if (!Array.isArray(sessions)) throw new Error('no sessions list');
      return sessions.filter(isRecord).map(({ member, host, port, bmcSessionId }) => ({
        member,
        host,
        port,
        bmcSessionId,
      }));
    } catch (error) {
      this.log(`${this.file} is corrupt (${describe(error)}); its sessions are left to time out`);
      return [];
    }
  }

  private write(): void {
    const temporary = `${this.file}.${process.pid}.tmp`;
    const text = `${JSON.stringify({ version: 1, sessions: this.open })}\n`;
    let fd: number | null = null;
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      fd = openSync(temporary, 'w', 0o600);
      writeSync(fd, text);
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
      renameSync(temporary, this.file);
    } catch (error) {
      if (fd !== null) closeSync(fd);
      try {
        unlinkSync(temporary);
      } catch {
        // Already gone or never made.
      }
      this.log(`cannot write ${this.file}: ${describe(error)}`);
    }
  }
}

function isRecord(value: unknown): value is SessionRecord {
  const r = value as Partial<SessionRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.member === 'string' &&
    typeof r.host === 'string' &&
    Number.isInteger(r.port) &&
    Number.isInteger(r.bmcSessionId) &&
    (r.bmcSessionId ?? 0) > 0 &&
    (r.bmcSessionId ?? 0) <= 0xffffffff
  );
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
