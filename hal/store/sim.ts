import { StoreError } from '../errors/index.js';
import type { RoleRecord, Store } from './index.js';

/** The persisted record in memory; it belongs to the simulated disk, so it survives power loss. */
export class SimStore implements Store {
  private record: RoleRecord | null = null;
  /** Test control: make the next saves fail, as a full or read-only disk would. */
  failSaves = false;
  /** Test control: every record saved, in order. */
  readonly saved: RoleRecord[] = [];
  private held: Promise<void> | null = null;

  constructor(private readonly file = 'sim:role.json') {}

  async load(): Promise<RoleRecord | null> {
    return this.record === null ? null : { ...this.record };
  }

  async checkWritable(): Promise<void> {
    if (this.failSaves) throw new StoreError(this.file, 'no space left on device (simulated)');
  }

  /**
   * Test control: saves from now on wait until the returned function is called, as on a disk
   * whose fsync takes long (a loaded machine).
   */
  holdSaves(): () => void {
    let release: () => void = () => undefined;
    this.held = new Promise((resolve) => (release = resolve));
    return () => {
      this.held = null;
      release();
    };
  }

  async save(record: RoleRecord): Promise<void> {
    if (this.held !== null) await this.held;
    if (this.failSaves) throw new StoreError(this.file, 'no space left on device (simulated)');
    this.record = { ...record };
    this.saved.push({ ...record });
  }
}
