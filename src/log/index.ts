export { MemoryLog, atLeast, redact } from './event-log.js';
export type { EventLog, LogFields, LogLine } from './event-log.js';
export { TslogLog } from './tslog-log.js';
export { JournalLog } from './journal-log.js';
export type { JournalContext } from './journal-log.js';
