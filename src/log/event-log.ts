import type { LogLevel } from '../role/types.js';

export type LogFields = Record<string, string | number | boolean | null>;

/** One structured log line: what happened (`event`), to whom, and why. */
export interface LogLine {
  atMs: number;
  /** Monotonic microseconds, for measuring phases of a failover. */
  atUs: number;
  level: LogLevel;
  node: string;
  event: string;
  message: string;
  fields: LogFields;
}

/** Where the agent's structured events go. Implementations must not throw. */
export interface EventLog {
  emit(line: LogLine): void;
  /** The most recent lines, oldest first. */
  recent(count: number): LogLine[];
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function atLeast(level: LogLevel, threshold: LogLevel): boolean {
  return LEVELS[level] >= LEVELS[threshold];
}

/** Keys whose values are never written anywhere, whatever a caller passes. */
const SECRET_KEY = /pass(word)?|secret|key|token|credential/i;

export function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : v;
  return out;
}

/** Keeps the last `capacity` lines in memory; the base of every log. */
export class MemoryLog implements EventLog {
  private readonly lines: LogLine[] = [];

  constructor(
    private readonly capacity = 1000,
    private readonly threshold: LogLevel = 'debug',
  ) {}

  emit(line: LogLine): void {
    if (!atLeast(line.level, this.threshold)) return;
    this.lines.push({ ...line, fields: redact(line.fields) });
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }

  recent(count: number): LogLine[] {
    return this.lines.slice(Math.max(0, this.lines.length - count));
  }

  all(): readonly LogLine[] {
    return this.lines;
  }
}
