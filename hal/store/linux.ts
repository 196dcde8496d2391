/**
 * The role record in `<dir>/role.json`, written atomically and durably: a temporary file in
 * the same directory is written and fsynced, renamed over the record, then the directory is
 * fsynced so the rename itself survives power loss.
 *
 * `save` makes its system calls synchronously. It lies on the takeover's critical path (the
 * address is assigned only once the role is on disk), and each of its eight steps through
 * fs/promises waited for a libuv pool thread (SCHED_OTHER, while the agent's own thread may run
 * at SCHED_FIFO); direct calls are faster (README "Benchmarks" has the figures).
 * Nothing else of the agent may go on while the role changes anyway; a disk that stalls
 * stalls the takeover either way.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { PersistedRole, PoweredOffAt, RoleRecord, Store } from './index.js';
import { StoreError } from '../errors/store-error.js';

const FILE_NAME = 'role.json';
const ROLES: readonly PersistedRole[] = ['primary', 'monitor', 'spare'];

export class FileStore implements Store {
  readonly file: string;
  private sequence = 0;

  constructor(private readonly dir: string) {
    this.file = join(dir, FILE_NAME);
  }

  async load(): Promise<RoleRecord | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') {
        return null;
      }
      throw new StoreError(this.file, `cannot read: ${describe(error)}`, { cause: error });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new StoreError(this.file, 'corrupt: not valid JSON', { cause: error });
    }
    return parseRecord(this.file, value);
  }

  save(record: RoleRecord): Promise<void> {
    try {
      this.write(record);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Writes, fsyncs and removes a probe file of a record's size beside the record. */
  checkWritable(): Promise<void> {
    const probe = join(this.dir, `.${FILE_NAME}.${process.pid}.probe`);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const fd = openSync(probe, 'w', 0o600);
      try {
        const bytes = Buffer.alloc(512, 0x20);
        for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      unlinkSync(probe);
      return Promise.resolve();
    } catch (error) {
      try {
        unlinkSync(probe);
      } catch {
        // Never created.
      }
      return Promise.reject(new StoreError(this.file, `not writable: ${describe(error)}`, { cause: error }));
    }
  }

  private write(record: RoleRecord): void {
    // Refuse to persist what load would reject.
    const checked = parseRecord(this.file, record);
    const text = `${JSON.stringify(checked, null, 2)}\n`;
    this.sequence += 1;
    const temporary = join(this.dir, `.${FILE_NAME}.${process.pid}.${this.sequence}.tmp`);
    try {
      const created = mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      if (created !== undefined) {
        syncCreatedDirectories(resolve(created), resolve(this.dir));
      }
      const fd = openSync(temporary, 'w', 0o600);
      try {
        const bytes = Buffer.from(text, 'utf8');
        for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.file);
      syncDirectory(this.dir);
    } catch (error) {
      try {
        unlinkSync(temporary);
      } catch {
        // Not created, or already renamed.
      }
      throw new StoreError(this.file, `cannot save: ${describe(error)}`, { cause: error });
    }
  }
}

/** fsyncs the parent of every directory from `first` (outermost created) down to `last`. */
function syncCreatedDirectories(first: string, last: string): void {
  for (let dir = last; ; dir = dirname(dir)) {
    syncDirectory(dirname(dir));
    if (dir === first || dirname(dir) === dir) {
      return;
    }
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function parseRecord(file: string, value: unknown): RoleRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoreError(file, 'corrupt: not a JSON object');
  }
  const role: unknown = Reflect.get(value, 'role');
  const epoch: unknown = Reflect.get(value, 'epoch');
  const reason: unknown = Reflect.get(value, 'reason');
  const atMs: unknown = Reflect.get(value, 'atMs');
  const knownRole = ROLES.find((candidate) => candidate === role);
  if (knownRole === undefined) {
    throw new StoreError(file, `corrupt: role must be one of ${ROLES.join(', ')}`);
  }
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new StoreError(file, 'corrupt: epoch must be a non-negative integer');
  }
  if (typeof reason !== 'string') {
    throw new StoreError(file, 'corrupt: reason must be a string');
  }
  if (typeof atMs !== 'number' || !Number.isFinite(atMs)) {
    throw new StoreError(file, 'corrupt: atMs must be a number');
  }
  const poweredOff: unknown = Reflect.get(value, 'poweredOff');
  if (poweredOff === undefined) return { role: knownRole, epoch, reason, atMs };
  if (
    !Array.isArray(poweredOff) ||
    poweredOff.length > 64 ||
    !poweredOff.every((name) => typeof name === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(name))
  ) {
    throw new StoreError(file, 'corrupt: poweredOff must be a list of member names');
  }
  const at = parsePoweredOffAt(file, Reflect.get(value, 'poweredOffAt'));
  return {
    role: knownRole,
    epoch,
    reason,
    atMs,
    poweredOff: poweredOff as string[],
    ...(at ? { poweredOffAt: at } : {}),
  };
}

/** `poweredOffAt`: absent (records of earlier versions), or a boot ID and a monotonic time. */
function parsePoweredOffAt(file: string, value: unknown): PoweredOffAt | null {
  if (value === undefined) return null;
  const bootId: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'bootId') : undefined;
  const atUs: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'atUs') : undefined;
  if (
    typeof bootId !== 'string' ||
    !/^[A-Za-z0-9_.-]{1,128}$/.test(bootId) ||
    typeof atUs !== 'number' ||
    !Number.isSafeInteger(atUs) ||
    atUs < 0
  ) {
    throw new StoreError(file, 'corrupt: poweredOffAt must be { bootId: string, atUs: non-negative integer }');
  }
  return { bootId, atUs };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null) {
    const code: unknown = Reflect.get(error, 'code');
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function describe(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined ? message : `${code}: ${message}`;
}
