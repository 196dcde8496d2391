/**
 * This server's own copy state, kept in `<state_dir>/sync-copy.json` so that it survives
 * restarts: `incomplete` from its first pull attempt until a pull completes, `complete`
 * after. A server that serves sends it with each manifest; a monitor pulling from a primary
 * whose copy is `incomplete` moves what it would delete aside instead (aside.ts). A server
 * that never tried to pull (it held the originals) has no state: unknown.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { code } from '../files/fs-errors.js';
import type { CopyState } from '../wire/types.js';

const FILE = 'sync-copy.json';

export class CopyStateFile {
  /** Last state read or written (undefined: none recorded). */
  private state: CopyState | undefined;
  private loaded = false;

  constructor(private readonly stateDir: string) {}

  get path(): string {
    return join(this.stateDir, FILE);
  }

  /** The recorded state; a missing or unreadable file is unknown. */
  async read(): Promise<CopyState | undefined> {
    if (this.loaded) return this.state;
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      const copy: unknown = typeof parsed === 'object' && parsed !== null ? Reflect.get(parsed, 'copy') : undefined;
      this.state = copy === 'complete' || copy === 'incomplete' ? copy : undefined;
    } catch (error) {
      if (code(error) !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
      this.state = undefined;
    }
    this.loaded = true;
    return this.state;
  }

  /** A pull is about to start: a server with no recorded state is `incomplete` from now on. */
  async attempting(): Promise<void> {
    if ((await this.read()) === undefined) await this.write('incomplete');
  }

  /** A pull completed: this server's copy is `complete`. */
  async completed(): Promise<void> {
    if ((await this.read()) !== 'complete') await this.write('complete');
  }

  private async write(copy: CopyState): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, Buffer.from(`${JSON.stringify({ copy })}\n`), {
      mode: 0o600,
      mtimeMs: Date.now(),
    });
    this.state = copy;
    this.loaded = true;
  }
}
