import { StoreError } from '../errors/index.js';
import type { RoleRecord, Store } from './index.js';

/** The persisted record in memory; it belongs to the simulated disk, so it survives power loss. */
export class SimStore implements Store {
  private record: RoleRecord | null = null;
  /** Test control: make the next saves fail, as a full or read-only disk would. */
  failSaves = false;
  /** Test control: every record saved, in order. */
  readonly saved: RoleRecord[] = [];

  constructor(private readonly file = 'sim:role.json') {}

  async load(): Promise<RoleRecord | null> {
    return this.record === null ? null : { ...this.record };
  }

  async checkWritable(): Promise<void> {
    if (this.failSaves) throw new StoreError(this.file, 'no space left on device (simulated)');
  }

  async save(record: RoleRecord): Promise<void> {
    if (this.failSaves) throw new StoreError(this.file, 'no space left on device (simulated)');
    this.record = { ...record };
    this.saved.push({ ...record });
  }
}
