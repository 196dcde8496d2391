/** The in-process Redfish client: bmc.ts (the Bmc), session.ts (kept session), transport.ts (TLS, one request). */
export { RedfishBmc, RedfishBmcFactory } from './bmc.js';
export type { RedfishBmcOptions, TlsCheck } from './bmc.js';
