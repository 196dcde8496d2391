import type { SystemIdentity } from './identity.js';

/**
 * BMC: power control of one member through its baseboard management controller.
 *
 * Contract:
 * - Each operation resolves only after the BMC acknowledged it, and rejects with
 *   `BmcError` (kinds: `unreachable`, `auth`, `timeout`, `refused`, `garbage`) otherwise.
 * - `status` returns the chassis power state as the BMC reports it.
 * - `cycle` asks the BMC for an off-then-on cycle; `off`/`on` set the state.
 * - Errors never contain the password.
 */
export interface Bmc {
  readonly member: string;
  status(): Promise<PowerState>;
  on(): Promise<void>;
  off(): Promise<void>;
  cycle(): Promise<void>;
  /**
   * The identity of the system this BMC manages (IPMI Get System GUID, Redfish
   * ComputerSystem UUID), for the check that a member's BMC is that member's. Absent where
   * the client cannot ask (a fence agent). Rejects with `BmcError` like the others.
   */
  identity?(): Promise<SystemIdentity>;
}

export type PowerState = 'on' | 'off';

export type { SystemIdentity } from './identity.js';

/** Opens the BMC of a member; the agent asks for the one it must fence. */
export interface BmcFactory {
  open(member: string): Bmc;
}

/** Cipher suites the in-process RMCP+ client speaks; config checks a board's choice against it. */
export { SUPPORTED_CIPHER_SUITES } from './rmcp/cipher-suite.js';
