/**
 * One small tmpfs per server for the campaign: its state_dir (`state/`) and its replicated
 * files (`data/`) live there, so "disk full" can fill it without touching anything else.
 * Mounted under a fresh directory in /tmp, unmounted at the end (also when the process exits
 * without the normal teardown).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from '../lab/exec.js';

export class SoakDisks {
  private readonly mounted: string[] = [];
  private readonly exitHandler = (): void => this.emergencyUnmount();

  private constructor(readonly root: string) {
    process.once('exit', this.exitHandler);
  }

  static async create(servers: readonly string[], sizeMb = 8): Promise<SoakDisks> {
    const disks = new SoakDisks(await mkdtemp('/tmp/hotspare-soak-'));
    try {
      for (const server of servers) {
        const dir = disks.diskOf(server);
        await mkdir(dir, { mode: 0o700 });
        await exec('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, `soak-${server}`, dir]);
        disks.mounted.push(dir);
        for (const sub of ['state', 'data', 'writer-tmp']) await mkdir(join(dir, sub), { mode: 0o700 });
      }
    } catch (error) {
      await disks.remove();
      throw error;
    }
    return disks;
  }

  diskOf(server: string): string {
    return join(this.root, server);
  }

  stateDir(server: string): string {
    return join(this.diskOf(server), 'state');
  }

  dataDir(server: string): string {
    return join(this.diskOf(server), 'data');
  }

  writerTmp(server: string): string {
    return join(this.diskOf(server), 'writer-tmp');
  }

  async remove(): Promise<void> {
    for (const dir of this.mounted.splice(0).reverse()) {
      await exec('umount', [dir]).catch(() => exec('umount', ['-l', dir]).catch(() => undefined));
    }
    await rm(this.root, { recursive: true, force: true });
    process.off('exit', this.exitHandler);
  }

  private emergencyUnmount(): void {
    for (const dir of this.mounted.splice(0)) spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
  }
}
