export { MemoryLog, atLeast, redact } from './event-log.js';
export type { EventLog, LogFields, LogLine } from './event-log.js';
export { TslogLog } from './tslog-log.js';
