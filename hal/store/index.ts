/**
 * Store: the persisted role record, which survives power loss.
 *
 * Contract:
 * - `load` returns null when nothing was ever saved; a corrupt record rejects with
 *   `StoreError` naming the file.
 * - `save` is atomic and durable: when it resolves the record survives power loss, and a
 *   power loss during `save` leaves either the old or the new record, never a torn one.
 */
export interface Store {
  load(): Promise<RoleRecord | null>;
  save(record: RoleRecord): Promise<void>;
  /**
   * Proves a save would succeed now (a full or read-only disk rejects with `StoreError`),
   * leaving the record as it is: asked before acting on a decision that must be persisted.
   */
  checkWritable(): Promise<void>;
}

export type PersistedRole = 'primary' | 'monitor' | 'spare';

export interface RoleRecord {
  role: PersistedRole;
  /** Increases by one with every persisted role change, across reboots. */
  epoch: number;
  reason: string;
  /** Wall-clock milliseconds, for people. */
  atMs: number;
  /**
   * Members this server powered off for a takeover and has not yet powered on again: a
   * restarted agent powers them on, so no fenced server stays off because its fencer restarted.
   */
  poweredOff?: readonly string[];
  /**
   * When the last of them was to be powered off: the clock's `nowUs` and `bootId` at that
   * decision (before the off went out). A restart on the same boot within
   * `fencing.power_timeout_ms` of it waits for the power to read off before powering on (a
   * BMC may still carry out that off, and some drop an on meanwhile).
   */
  poweredOffAt?: PoweredOffAt;
}

export interface PoweredOffAt {
  bootId: string;
  atUs: number;
}
