/**
 * Issue 12 #8: the monitor's copy has the primary's modes (the roots' own included) and
 * numeric owners, so a takeover serves files the service can read and nobody else can.
 * Runs as root (chown to arbitrary ids).
 */
import { expect } from 'chai';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planSync } from '../../../src/sync/client/diff.js';
import { parseEntry, parseServerMessage } from '../../../src/sync/wire/messages.js';
import type { TlsReplicator } from '../../../src/sync/index.js';
import type { ManifestEntry } from '../../../src/sync/wire/types.js';
import { memoryLog, pullingReplicator, servingReplicator } from './helpers.js';

async function ownerAndMode(path: string): Promise<string> {
  const st = await lstat(path);
  return `${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}`;
}

describe('sync/owners: modes of roots and directories, numeric owners (issue 12 #8)', function () {
  this.timeout(20_000);
  let base: string;
  let a: string;
  let b: string;
  let primary: TlsReplicator | null = null;
  let port: number;

  beforeEach(async function () {
    if (process.getuid?.() !== 0) this.skip();
    base = await mkdtemp(join(tmpdir(), 'hs-owners-'));
    a = join(base, 'a');
    b = join(base, 'b');
    await mkdir(join(a, 'svc'), { recursive: true });
    await writeFile(join(a, 'secret.conf'), 'password=1');
    await writeFile(join(a, 'svc', 'data.db'), 'rows');
    await chmod(a, 0o700);
    await chmod(join(a, 'secret.conf'), 0o644);
    await chmod(join(a, 'svc'), 0o750);
    await chmod(join(a, 'svc', 'data.db'), 0o600);
    const served = await servingReplicator([a], memoryLog().log);
    primary = served.replicator;
    port = served.port;
  });

  afterEach(async () => {
    await primary?.close();
    primary = null;
    if (base !== undefined) await rm(base, { recursive: true, force: true });
  });

  it('a 0700 root with a 0644 file stays 0700 on the monitor (created, or existing as 0755)', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log);
    await monitor.sync('127.0.0.1');
    expect((await stat(b)).mode & 0o777).to.equal(0o700);
    expect((await stat(join(b, 'secret.conf'))).mode & 0o777).to.equal(0o644);
    expect((await stat(join(b, 'svc'))).mode & 0o777).to.equal(0o750);
    await chmod(b, 0o755);
    await monitor.sync('127.0.0.1');
    await monitor.close();
    expect((await stat(b)).mode & 0o777).to.equal(0o700);
  });

  it('files owned by 4242:4243 on the primary arrive with that owner; an owner change alone moves no bytes', async () => {
    for (const path of [a, join(a, 'svc'), join(a, 'svc', 'data.db'), join(a, 'secret.conf')])
      await chown(path, 4242, 4243);
    const monitor = pullingReplicator([b], port, memoryLog().log);
    await monitor.sync('127.0.0.1');
    expect(await ownerAndMode(b)).to.equal('4242:4243 700');
    expect(await ownerAndMode(join(b, 'svc'))).to.equal('4242:4243 750');
    expect(await ownerAndMode(join(b, 'svc', 'data.db'))).to.equal('4242:4243 600');
    expect(await ownerAndMode(join(b, 'secret.conf'))).to.equal('4242:4243 644');

    await chown(join(a, 'svc', 'data.db'), 4244, 4245);
    const again = await monitor.sync('127.0.0.1');
    await monitor.close();
    expect(again).to.deep.include({ files: 0, bytes: 0 });
    expect(await ownerAndMode(join(b, 'svc', 'data.db'))).to.equal('4244:4245 600');
  });
});

describe('sync/owners on the wire: optional, validated strictly', () => {
  const H = 'a'.repeat(64);
  const file = { type: 'file', root: 0, path: 'f', size: 1, mode: 0o600, mtimeMs: 1, sha256: H };

  it('an older primary sends no owner and no root metadata: accepted, and owners here are left alone', () => {
    const remote = parseEntry(file);
    expect(remote).not.to.have.property('uid');
    expect(parseServerMessage({ t: 'manifest', roots: ['dir'] })).to.deep.equal({ t: 'manifest', roots: ['dir'] });
    const local: ManifestEntry = { ...(remote as ManifestEntry & { type: 'file' }), uid: 4242, gid: 4243 };
    const plan = planSync([remote], [local], { roots: new Set([0]) });
    expect(plan.meta).to.deep.equal([]);
    expect(plan.fetch).to.deep.equal([]);
  });

  it('an owner that differs is a metadata change', () => {
    const remote = parseEntry({ ...file, uid: 1, gid: 2 });
    const local: ManifestEntry = { ...(remote as ManifestEntry & { type: 'file' }), uid: 1, gid: 3 };
    expect(planSync([remote], [local], { roots: new Set([0]) }).meta).to.deep.equal([remote]);
  });

  it('root metadata must match the root kinds', () => {
    expect(() =>
      parseServerMessage({ t: 'manifest', roots: ['file'], rootMeta: [{ mode: 0o700, uid: 0, gid: 0 }] }),
    ).to.throw(/rootMeta\[0\] must be null: root 0 is not a directory/);
  });
});
