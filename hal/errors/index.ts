export { HotspareError, isHotspareError } from './hotspare-error.js';
export { ConfigError, isConfigError } from './config-error.js';
export { BmcError, isBmcError } from './bmc-error.js';
export type { BmcErrorKind } from './bmc-error.js';
export { NicError, isNicError } from './nic-error.js';
export { IcmpError, isIcmpError } from './icmp-error.js';
export { StoreError, isStoreError } from './store-error.js';
export { SyncError, isSyncError } from './sync-error.js';
