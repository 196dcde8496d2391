import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtomicFile, replaceWithSymlink, writeFileAtomic } from '../../../src/sync/client/atomic-write.js';
import type { AtomicStep } from '../../../src/sync/client/atomic-write.js';
import { HashCache } from '../../../src/sync/files/hash-cache.js';
import { buildManifest } from '../../../src/sync/files/manifest.js';
import { isTempName } from '../../../src/sync/wire/temp-name.js';

const crashWriter = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crash-writer.js');
const STEPS: AtomicStep[] = ['after-write', 'after-fsync', 'after-rename'];

describe('sync/atomic-write: temporary file, fsync, rename, fsync of the directory', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hs-atomic-'));
    file = join(dir, 'key.pem');
    await writeFile(file, 'old complete version\n', { mode: 0o600 });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces the content, with the given mode and mtime, leaving no temporary file', async () => {
    await writeFileAtomic(file, Buffer.from('new version\n'), { mode: 0o640, mtimeMs: 1_600_000_000_123.456 });
    expect(await readFile(file, 'utf8')).to.equal('new version\n');
    const st = await stat(file);
    expect(st.mode & 0o777).to.equal(0o640);
    expect(Math.abs(st.mtimeMs - 1_600_000_000_123.456)).to.be.lessThan(0.01);
    expect(await readdir(dir)).to.deep.equal(['key.pem']);
  });

  it('streams chunks without holding the file', async () => {
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, i);
    }
    expect(await writeFileAtomic(file, chunks(), { mode: 0o600, mtimeMs: Date.now() })).to.equal(64 * 64 * 1024);
    expect((await stat(file)).size).to.equal(64 * 64 * 1024);
  });

  for (const step of ['after-write', 'after-fsync'] as const) {
    it(`a failure ${step} (before the rename) leaves the old file whole and no temporary file`, async () => {
      const failing = writeFileAtomic(
        file,
        Buffer.from('torn?'),
        { mode: 0o600, mtimeMs: Date.now() },
        {
          step: (s) => {
            if (s === step) throw new Error(`simulated crash ${s}`);
          },
        },
      );
      let error: unknown = null;
      await failing.catch((e: unknown) => {
        error = e;
      });
      expect(String(error)).to.include('simulated crash');
      expect(await readFile(file, 'utf8')).to.equal('old complete version\n');
      expect(await readdir(dir)).to.deep.equal(['key.pem']);
    });
  }

  for (const step of STEPS) {
    it(`a real crash (SIGKILL) ${step}: the file is the old or the new complete version; the next walk removes the leftover`, async () => {
      const child = spawnSync(process.execPath, [crashWriter, file, step, 'new complete version\n'], {
        encoding: 'utf8',
      });
      expect(child.signal).to.equal('SIGKILL');
      const content = await readFile(file, 'utf8');
      expect(content).to.equal(step === 'after-rename' ? 'new complete version\n' : 'old complete version\n');
      const leftovers = (await readdir(dir)).filter(isTempName);
      expect(leftovers.length).to.equal(step === 'after-rename' ? 0 : 1);
      const walk = await buildManifest([dir], { cache: new HashCache(), removeTemps: true });
      expect(walk.tempsRemoved).to.equal(leftovers.length);
      expect(await readdir(dir)).to.deep.equal(['key.pem']);
      expect(walk.entries.map((e) => e.path)).to.deep.equal(['key.pem']);
    });
  }

  it('abort leaves the final name untouched', async () => {
    const atomic = await AtomicFile.create(file);
    await atomic.write(Buffer.from('partial'));
    await atomic.abort();
    await atomic.abort();
    expect(await readFile(file, 'utf8')).to.equal('old complete version\n');
    expect(await readdir(dir)).to.deep.equal(['key.pem']);
  });

  it('replaces a symlink itself, never the file it points to', async () => {
    const outside = join(dir, 'outside.txt');
    await writeFile(outside, 'must not change');
    const link = join(dir, 'link');
    await symlink(outside, link);
    await writeFileAtomic(link, Buffer.from('written'), { mode: 0o600, mtimeMs: Date.now() });
    expect(await readFile(outside, 'utf8')).to.equal('must not change');
    expect((await lstat(link)).isFile()).to.equal(true);
  });

  it('replaces a file by a symlink atomically', async () => {
    await replaceWithSymlink(file, 'elsewhere');
    expect(await readlink(file)).to.equal('elsewhere');
    expect((await readdir(dir)).filter(isTempName)).to.deep.equal([]);
  });
});
