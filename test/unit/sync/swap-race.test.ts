/**
 * Issue 12 #2: a local process swaps a directory inside the monitor's root for a symlink to a
 * directory outside it while a pull runs. Nothing outside the root may be created, changed
 * or deleted; each pull succeeds or fails with a clear SyncError.
 */
import { expect } from 'chai';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncError } from '../../../hal/errors/index.js';
import type { TlsReplicator } from '../../../src/sync/index.js';
import { memoryLog, pullingReplicator, readTree, servingReplicator } from './helpers.js';

const swapperScript = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'swapper.js');
const FILES = 60;

/** Every name under `dir` with its kind, mode, owner, mtime and content hash. */
async function fingerprint(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(path: string, rel: string): Promise<void> {
    for (const name of (await readdir(path)).sort()) {
      const st = await lstat(join(path, name));
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file';
      const hash =
        kind === 'file'
          ? createHash('sha256')
              .update(await readFile(join(path, name)))
              .digest('hex')
          : '';
      out.push(`${rel}${name} ${kind} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${hash}`);
      if (kind === 'dir') await walk(join(path, name), `${rel}${name}/`);
    }
  }
  await walk(dir, '');
  return out;
}

/** A clear error: a SyncError saying what was refused or what changed underneath. */
function expectClear(error: unknown): void {
  expect(error).to.be.instanceOf(SyncError);
  expect(String(error)).to.match(/symlink|not a directory|changed or vanished/);
  expect(String(error)).not.to.match(/\/proc\/self\/fd/);
}

describe('sync/swap-race: a directory swapped for a symlink during a pull (issue 12 #2)', function () {
  this.timeout(60_000);
  let base: string;
  let a: string;
  let b: string;
  let victim: string;
  let primary: TlsReplicator | null = null;
  let port: number;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hs-swap-'));
    a = join(base, 'a');
    b = join(base, 'b');
    victim = join(base, 'victim');
    await mkdir(join(a, 'd'), { recursive: true });
    await mkdir(join(b, 'd'), { recursive: true });
    await mkdir(victim);
    for (let i = 0; i < FILES; i++) {
      await writeFile(join(a, 'd', `f${i}`), `primary ${i}`);
      await writeFile(join(a, 'd', `h${i}`), `same ${i}`, { mode: 0o644 });
      await writeFile(join(b, 'd', `h${i}`), `same ${i}`, { mode: 0o600 });
      await writeFile(join(b, 'd', `g${i}`), `stale ${i}`);
      for (const name of [`f${i}`, `g${i}`, `h${i}`]) {
        await writeFile(join(victim, name), `victim ${name}`, { mode: 0o600 });
        await utimes(join(victim, name), 1_000_000, 1_000_000);
      }
    }
    const served = await servingReplicator([a], memoryLog().log);
    primary = served.replicator;
    port = served.port;
  });

  afterEach(async () => {
    await primary?.close();
    primary = null;
    await rm(base, { recursive: true, force: true });
  });

  it('never deletes or writes through a directory swapped for a symlink after it was checked (deterministic)', async () => {
    // One file to copy (its commit is the moment of the swap), then mode changes and deletions in `d`.
    for (let i = 1; i < FILES; i++) await unlink(join(a, 'd', `f${i}`));
    const before = await fingerprint(victim);
    let swapped = false;
    const monitor = pullingReplicator([b], port, memoryLog().log, {
      hooks: {
        // After the first file is in place, `d` becomes a symlink to the victim directory.
        step: async (step) => {
          if (step !== 'after-rename' || swapped) return;
          swapped = true;
          await rename(join(b, 'd'), join(base, 'stash'));
          await symlink(victim, join(b, 'd'));
        },
      },
    });
    let error: unknown = null;
    await monitor.sync('127.0.0.1').catch((e: unknown) => (error = e));
    await monitor.close();
    expect(swapped).to.equal(true);
    expect(await fingerprint(victim)).to.deep.equal(before);
    expectClear(error);
    expect(String(error)).to.match(/symlink/);
  });

  it('leaves a victim directory outside the root untouched while a hostile process keeps swapping', async () => {
    const before = await fingerprint(victim);
    const link = join(base, 'link');
    await symlink(victim, link);
    const swapper: ChildProcess = fork(swapperScript, [join(b, 'd'), join(base, 'stash'), link, victim], {
      stdio: 'ignore',
      serialization: 'json',
    });
    const exited = new Promise((resolve) => swapper.once('exit', resolve));
    await new Promise((resolve) => swapper.once('message', resolve));
    const monitor = pullingReplicator([b], port, memoryLog().log);
    const errors: unknown[] = [];
    let completed = 0;
    try {
      const until = Date.now() + 4000;
      for (let round = 0; Date.now() < until; round++) {
        // Give every round work in `d`: new contents, mode changes, files to delete.
        for (let i = 0; i < FILES; i++) {
          await writeFile(join(a, 'd', `f${i}`), `primary ${i} round ${round}`);
          await chmod(join(a, 'd', `h${i}`), round % 2 === 0 ? 0o644 : 0o640);
          if (round % 2 === 0) await unlink(join(a, 'd', `g${i}`)).catch(() => undefined);
          else await writeFile(join(a, 'd', `g${i}`), `again ${i}`);
        }
        await monitor.sync('127.0.0.1').then(
          () => (completed += 1),
          (error: unknown) => errors.push(error),
        );
      }
    } finally {
      swapper.kill('SIGKILL');
      await exited;
    }
    expect(await fingerprint(victim)).to.deep.equal(before);
    for (const error of errors) expectClear(error);
    // Calm again (the real directory back in place): the next pull completes and matches.
    if ((await lstat(join(b, 'd')).catch(() => null))?.isSymbolicLink() === true) await unlink(join(b, 'd'));
    if ((await lstat(join(base, 'stash')).catch(() => null)) !== null) {
      await rm(join(b, 'd'), { recursive: true, force: true });
      await rename(join(base, 'stash'), join(b, 'd'));
    }
    await monitor.sync('127.0.0.1');
    await monitor.close();
    expect(await readTree(b)).to.deep.equal(await readTree(a));
    expect(await fingerprint(victim)).to.deep.equal(before);
    expect(errors.length + completed).to.be.greaterThan(1);
  });
});
