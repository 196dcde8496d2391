export { TlsReplicator } from './replicator.js';
export type { TlsReplicatorOptions } from './replicator.js';
export { replicatorFor } from './from-config.js';
export { SyncKey } from './wire/psk.js';
export type { SyncLog, SyncLogLevel } from './sync-log.js';
