import type { LogFields } from '../log/index.js';

export type SyncLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where replication reports what it did; the agent's event log in production. */
export type SyncLog = (level: SyncLogLevel, event: string, message: string, fields?: LogFields) => void;

export const silentLog: SyncLog = () => undefined;
