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
}

export type PersistedRole = 'primary' | 'monitor' | 'spare';

export interface RoleRecord {
  role: PersistedRole;
  /** Increases by one with every persisted role change, across reboots. */
  epoch: number;
  reason: string;
  /** Wall-clock milliseconds, for people. */
  atMs: number;
}
