import type { Journal } from '../../hal/systemd/index.js';
import { journalKey } from '../../hal/systemd/index.js';
import type { LogLevel } from '../role/types.js';
import { atLeast, MemoryLog, redact } from './event-log.js';
import type { EventLog, LogLine } from './event-log.js';

/** syslog priorities (journalctl -p): error 3, warning 4, info 6, debug 7. */
const PRIORITY: Record<LogLevel, string> = { error: '3', warn: '4', info: '6', debug: '7' };

/** Fields the journal itself names: a line's own field of the same name is written with an `HS_` prefix. */
const RESERVED = new Set(['MESSAGE', 'PRIORITY', 'SYSLOG_IDENTIFIER', 'EVENT', 'NODE', 'ROLE', 'EPOCH', 'AT_US']);

/** Where the agent is now, for every entry's ROLE and EPOCH fields. */
export interface JournalContext {
  role: string;
  epoch: number;
}

/**
 * The agent's log under systemd: one journal entry per line, with its priority (so
 * `journalctl -u hotspare -p err` shows errors only) and fields to filter on:
 * `EVENT=transition`, `ROLE=monitor`, `EPOCH=7`, `NODE=b`, and each of the line's own fields
 * upper-cased (`TO=primary`, `MEMBER=a`). Secrets are redacted as in every log. An entry the
 * journal does not take (busy, too large) goes to `fallback` (stdout, which journald reads
 * too, as plain text).
 */
export class JournalLog implements EventLog {
  private readonly memory = new MemoryLog(2000);
  private context: () => JournalContext | null = () => null;

  constructor(
    private readonly journal: Journal,
    private threshold: LogLevel,
    private readonly fallback: EventLog,
    private readonly identifier = 'hotspare',
  ) {}

  /** Set once the agent exists: its role and epoch go into every entry from then on. */
  describeWith(context: () => JournalContext | null): void {
    this.context = context;
  }

  emit(line: LogLine): void {
    this.memory.emit(line);
    if (!atLeast(line.level, this.threshold)) return;
    const fields: Array<[string, string]> = [
      ['MESSAGE', line.message],
      ['PRIORITY', PRIORITY[line.level]],
      ['SYSLOG_IDENTIFIER', this.identifier],
      ['EVENT', line.event],
      ['NODE', line.node],
      ['AT_US', String(line.atUs)],
    ];
    const context = this.context();
    if (context !== null) fields.push(['ROLE', context.role], ['EPOCH', String(context.epoch)]);
    for (const [name, value] of Object.entries(redact(line.fields))) {
      if (value === null) continue;
      const key = journalKey(name);
      fields.push([RESERVED.has(key) ? `HS_${key}` : key, String(value)]);
    }
    if (!this.journal.send(fields)) this.fallback.emit(line);
  }

  recent(count: number): LogLine[] {
    return this.memory.recent(count);
  }

  /** A new threshold (SIGHUP reload of log.level). */
  setThreshold(level: LogLevel): void {
    this.threshold = level;
  }
}
