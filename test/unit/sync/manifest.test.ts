import { expect } from 'chai';
import { mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashCache } from '../../../src/sync/files/hash-cache.js';
import { buildManifest } from '../../../src/sync/files/manifest.js';
import type { SkippedPath } from '../../../src/sync/wire/types.js';

describe('sync/manifest: walking the replicated roots', () => {
  let base: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hs-manifest-'));
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
    await rm(`${base}-clock`, { force: true });
  });

  it('lists dirs, files and inside symlinks with path, size, mode, mtime and hash; roots by index', async () => {
    const a = join(base, 'a');
    await mkdir(join(a, 'sub'), { recursive: true });
    await writeFile(join(a, 'sub', 'f'), 'hello', { mode: 0o640 });
    await symlink('sub/f', join(a, 'link'));
    await writeFile(join(base, 'single'), 'x');
    const walk = await buildManifest([a, join(base, 'single'), join(base, 'missing')], {
      cache: new HashCache(),
      removeTemps: false,
    });
    expect(walk.roots).to.deep.equal(['dir', 'file', 'absent']);
    // The manifest keeps mtime in whole microseconds from the nanosecond stat (a float
    // mtimeMs can round the last digit the other way).
    const st = await stat(join(a, 'sub', 'f'), { bigint: true });
    expect(walk.entries).to.deep.equal([
      { type: 'symlink', root: 0, path: 'link', target: 'sub/f' },
      { type: 'dir', root: 0, path: 'sub', mode: 0o755 & ~process.umask(), uid: Number(st.uid), gid: Number(st.gid) },
      {
        type: 'file',
        root: 0,
        path: 'sub/f',
        size: 5,
        mode: 0o640 & ~process.umask(),
        mtimeMs: Number(st.mtimeNs / 1000n) / 1000,
        sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
        uid: Number(st.uid),
        gid: Number(st.gid),
      },
      {
        type: 'file',
        root: 1,
        path: '',
        size: 1,
        mode: walk.entries[3]?.type === 'file' ? walk.entries[3].mode : 0,
        mtimeMs: walk.entries[3]?.type === 'file' ? walk.entries[3].mtimeMs : 0,
        sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
        uid: Number(st.uid),
        gid: Number(st.gid),
      },
    ]);
    expect(walk.rootMeta).to.deep.equal([
      { mode: (await stat(a)).mode & 0o777, uid: Number(st.uid), gid: Number(st.gid) },
      null,
      null,
    ]);
  });

  it('skips and reports symlinks that point out, and special names', async () => {
    await symlink('/etc/passwd', join(base, 'abs'));
    await symlink('../..', join(base, 'up'));
    await writeFile(
      join(base, Buffer.from([0x66, 0xff]).toString('latin1')),
      'latin1 name is valid UTF-8 once written',
    );
    const skipped: SkippedPath[] = [];
    const walk = await buildManifest([base], {
      cache: new HashCache(),
      removeTemps: false,
      onSkip: (s) => skipped.push(s),
    });
    expect(skipped.map((s) => s.path).sort()).to.deep.equal(['abs', 'up']);
    expect(walk.entries.map((e) => e.path)).to.deep.equal(['fÿ']);
  });

  it('does not hash an unchanged file again, and hashes it again when it changes', async () => {
    const path = join(base, 'f');
    await writeFile(path, 'one');
    const old = new Date(Date.now() - 10_000);
    await utimes(path, old, old);
    // No racy window (0n), so the file is cached once its ctime is before the moment hashing
    // begins. buildManifest reads that moment in whole milliseconds and ctime has nanoseconds:
    // utimes in the same millisecond as the walk would count as racy, so wait for the clock.
    const written = (await stat(path, { bigint: true })).ctimeNs;
    await wallClockPast(written);
    const cache = new HashCache(0n);
    const first = await buildManifest([base], { cache, removeTemps: false });
    expect(first.hashed).to.equal(1);
    const second = await buildManifest([base], { cache, removeTemps: false });
    expect(second.hashed).to.equal(0);
    expect(second.entries).to.deep.equal(first.entries);
    // Same size, mtime set back: only ctime and the content tell. Without a racy window the
    // rewrite must land in a later file-system clock tick than the cached ctime.
    await fileClockPast(`${base}-clock`, written);
    await writeFile(path, 'two');
    await utimes(path, old, old);
    expect((await stat(path, { bigint: true })).ctimeNs > written, 'the rewrite has a later ctime').to.equal(true);
    const third = await buildManifest([base], { cache, removeTemps: false });
    expect(third.hashed).to.equal(1);
    expect(third.entries[0]?.type === 'file' && third.entries[0].sha256).to.equal(
      '3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3',
    );
  });

  it('does not cache the hash of a file modified this very second (racily clean)', async () => {
    await writeFile(join(base, 'fresh'), 'x');
    const cache = new HashCache();
    await buildManifest([base], { cache, removeTemps: false });
    expect(cache.size).to.equal(0);
    expect((await buildManifest([base], { cache, removeTemps: false })).hashed).to.equal(1);
  });
});

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

/** Waits until the wall clock, read as buildManifest reads it (whole milliseconds), is past `ns`. */
async function wallClockPast(ns: bigint): Promise<void> {
  while (BigInt(Date.now()) * 1_000_000n <= ns) await tick();
}

/** Waits until a file written now gets a ctime past `ns` (the file system's clock may be coarser). */
async function fileClockPast(scratch: string, ns: bigint): Promise<void> {
  for (;;) {
    await writeFile(scratch, '');
    if ((await stat(scratch, { bigint: true })).ctimeNs > ns) return;
    await tick();
  }
}
