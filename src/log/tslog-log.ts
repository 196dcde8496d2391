import { Logger } from 'tslog';
import type { LogLevel } from '../role/types.js';
import { atLeast, MemoryLog, redact } from './event-log.js';
import type { EventLog, LogLine } from './event-log.js';

const TSLOG_LEVEL: Record<LogLevel, number> = { debug: 2, info: 3, warn: 4, error: 5 };

/**
 * The agent's log on a real machine: tslog, JSON lines by default and pretty when stdout
 * is a terminal (or as configured). Keeps recent lines in memory for status and the shell.
 */
export class TslogLog implements EventLog {
  private readonly memory = new MemoryLog(2000);
  private readonly logger: Logger<unknown>;

  constructor(
    private threshold: LogLevel,
    format: 'json' | 'pretty' | 'auto',
  ) {
    const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
    this.logger = new Logger({
      type: pretty ? 'pretty' : 'json',
      minLevel: TSLOG_LEVEL[threshold],
      stack: { capture: 'off' },
    });
  }

  emit(line: LogLine): void {
    this.memory.emit(line);
    if (!atLeast(line.level, this.threshold)) return;
    const record = { ...redact(line.fields), node: line.node, event: line.event, atUs: line.atUs };
    switch (line.level) {
      case 'debug':
        this.logger.debug(line.message, record);
        break;
      case 'info':
        this.logger.info(line.message, record);
        break;
      case 'warn':
        this.logger.warn(line.message, record);
        break;
      case 'error':
        this.logger.error(line.message, record);
        break;
    }
  }

  /** A new threshold (SIGHUP reload of log.level). */
  setThreshold(level: LogLevel): void {
    this.threshold = level;
    this.logger.settings.minLevel = TSLOG_LEVEL[level];
  }

  recent(count: number): LogLine[] {
    return this.memory.recent(count);
  }
}
