import { expect } from 'chai';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { SyncError } from '../../../hal/errors/index.js';
import { SyncKey, TlsReplicator } from '../../../src/sync/index.js';
import { isTempName } from '../../../src/sync/wire/temp-name.js';
import {
  KEY,
  SECRET,
  makeTree,
  memoryLog,
  pullingReplicator,
  readTree,
  rejection,
  servingReplicator,
} from './helpers.js';
import type { LoggedLine } from './helpers.js';

describe('sync/replicator: TLS-PSK pull over loopback', function () {
  this.timeout(30_000);
  let base: string;
  let a: string;
  let b: string;
  let serverLog: { lines: LoggedLine[] };
  let primary: TlsReplicator | null = null;
  let port: number;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hs-repl-'));
    a = join(base, 'a');
    b = join(base, 'b');
    await makeTree(a, {
      'etc/': '',
      'etc/app.conf': 'listen 80\n',
      'etc/secret.key': 'k3y',
      'etc/current': '-> app.conf',
      'var/': '',
      'var/db': 'rows',
    });
    await chmod(join(a, 'etc/secret.key'), 0o600);
    const logged = memoryLog();
    serverLog = logged;
    const served = await servingReplicator([a], logged.log);
    primary = served.replicator;
    port = served.port;
  });

  afterEach(async () => {
    await primary?.stopServing();
    primary = null;
    await rm(base, { recursive: true, force: true });
  });

  it('copies everything the first time: content, directories, symlinks, modes and mtimes (pull in its worker thread)', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log, { thread: 'worker' });
    const result = await monitor.sync('127.0.0.1').finally(() => monitor.close());
    expect(result).to.deep.include({ skipped: false, files: 4, bytes: 'listen 80\n'.length + 3 + 4, deleted: 0 });
    expect(await readTree(b)).to.deep.equal(await readTree(a));
    expect((await stat(join(b, 'etc/secret.key'))).mode & 0o777).to.equal(0o600);
    const [src, dst] = await Promise.all([stat(join(a, 'var/db')), stat(join(b, 'var/db'))]);
    expect(Math.abs(src.mtimeMs - dst.mtimeMs)).to.be.lessThan(0.01);
  });

  it('is incremental: only changed files travel, metadata-only changes move no bytes, deletions propagate', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log);
    await monitor.sync('127.0.0.1');
    expect(await monitor.sync('127.0.0.1')).to.deep.include({ files: 0, bytes: 0, deleted: 0 });

    await writeFile(join(a, 'var/db'), 'rows+1');
    await chmod(join(a, 'etc/app.conf'), 0o640);
    const later = new Date(Date.now() + 60_000);
    await utimes(join(a, 'etc/secret.key'), later, later);
    expect(await monitor.sync('127.0.0.1')).to.deep.include({ files: 1, bytes: 6, deleted: 0 });
    expect(await readTree(b)).to.deep.equal(await readTree(a));
    expect((await stat(join(b, 'etc/app.conf'))).mode & 0o777).to.equal(0o640);
    expect(Math.abs((await stat(join(b, 'etc/secret.key'))).mtimeMs - later.getTime())).to.be.lessThan(1);

    await rm(join(a, 'var'), { recursive: true });
    await unlink(join(a, 'etc/current'));
    expect(await monitor.sync('127.0.0.1')).to.deep.include({ files: 0, bytes: 0, deleted: 3 });
    expect(await readTree(b)).to.deep.equal(await readTree(a));
  });

  it('after a takeover the new primary serves what it has; the old primary, as monitor, is overwritten, not merged', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log);
    await monitor.sync('127.0.0.1');
    // The old primary keeps writing after the last sync, then dies: its stale state must go.
    await writeFile(join(a, 'etc/app.conf'), 'written after the last sync');
    await writeFile(join(a, 'etc/only-on-old-primary'), 'x');
    await primary?.stopServing();

    const logged = memoryLog();
    await monitor.serve('127.0.0.1');
    const newPort = monitor.servingPort ?? 0;
    const rejoined = pullingReplicator([a], newPort, logged.log);
    const result = await rejoined.sync('127.0.0.1');
    await monitor.stopServing();
    expect(result.deleted).to.equal(1);
    expect(await readTree(a)).to.deep.equal(await readTree(b));
    expect(await readFile(join(a, 'etc/app.conf'), 'utf8')).to.equal('listen 80\n');
  });

  it('refuses a peer with the wrong key: nothing is written, the attempt is logged, the key never appears (worker thread)', async () => {
    const wrong = SyncKey.fromSecret(Buffer.from('a different cluster secret!!'));
    const monitor = pullingReplicator([b], port, memoryLog().log, { monitorKey: wrong, thread: 'worker' });
    const error = await rejection(monitor.sync('127.0.0.1').finally(() => monitor.close()));
    expect(error).to.be.instanceOf(SyncError);
    expect((error as SyncError).kind).to.equal('auth');
    expect(String(error)).to.match(/do not share the cluster key/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = serverLog.lines.find((l) => l.event === 'sync-refused');
    expect(refused?.message).to.match(/refused a sync connection from 127\.0\.0\.1: authentication failed/);
    expect(await readdir(base)).to.deep.equal(['a']);
    const everything = JSON.stringify([serverLog.lines, String(error), (error as SyncError).context, KEY, wrong]);
    expect(everything).not.to.include(SECRET);
    expect(everything).not.to.include('a different cluster secret');
  });

  it('logs a client that does not even speak TLS', async () => {
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.0\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(serverLog.lines.find((l) => l.event === 'sync-refused')?.message).to.match(/not a hotspare sync client/);
  });

  it('runs one sync at a time: a second request while one runs is skipped', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log);
    const [first, second] = await Promise.all([monitor.sync('127.0.0.1'), monitor.sync('127.0.0.1')]);
    expect(first.skipped).to.equal(false);
    expect(second).to.deep.equal({ skipped: true, files: 0, bytes: 0, deleted: 0 });
  });

  it('leaves out a file over max_file_bytes (its old copy stays) and says which', async () => {
    await makeTree(b, { 'etc/': '', 'etc/app.conf': 'old' });
    await writeFile(join(a, 'etc/app.conf'), 'x'.repeat(100));
    const monitor = pullingReplicator([b], port, memoryLog().log, { maxFileBytes: 50 });
    const error = await rejection(monitor.sync('127.0.0.1'));
    expect((error as SyncError).kind).to.equal('limit');
    expect(String(error)).to.match(/root 0: etc\/app\.conf is 100 bytes, over max_file_bytes \(50\)/);
    expect(await readFile(join(b, 'etc/app.conf'), 'utf8')).to.equal('old');
    expect(await readFile(join(b, 'var/db'), 'utf8')).to.equal('rows');
  });

  it('refuses a replicated set over max_total_bytes before writing anything', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log, { maxTotalBytes: 12 });
    const error = await rejection(monitor.sync('127.0.0.1'));
    expect((error as SyncError).kind).to.equal('limit');
    expect(String(error)).to.match(/max_total_bytes \(12\) at root 0: etc\/secret\.key; nothing copied/);
    expect(await readdir(base)).to.deep.equal(['a']);
  });

  it('refuses sync.paths lists of different lengths', async () => {
    const monitor = pullingReplicator([b, join(base, 'c')], port, memoryLog().log);
    const error = await rejection(monitor.sync('127.0.0.1'));
    expect((error as SyncError).kind).to.equal('roots');
    expect(String(error)).to.match(/same roots in the same order/);
  });

  it('keeps the copy of a root that is absent on the primary (an unmounted disk must not wipe it)', async () => {
    const missing = join(base, 'not-there');
    const local = join(base, 'mine');
    await makeTree(local, { precious: 'keep me' });
    const logged = memoryLog();
    const served = await servingReplicator([a, missing], logged.log);
    try {
      const monitor = pullingReplicator([b, local], served.port, memoryLog().log);
      const error = await rejection(monitor.sync('127.0.0.1'));
      expect(String(error)).to.match(/root 1 is absent on the primary; the copy at .* is kept/);
      expect(await readFile(join(local, 'precious'), 'utf8')).to.equal('keep me');
      expect(await readTree(b)).to.deep.equal(await readTree(a));
    } finally {
      await served.replicator.stopServing();
    }
  });

  it('replicates single-file roots by position', async () => {
    const single = join(base, 'one.conf');
    await writeFile(single, 'one');
    const served = await servingReplicator([a, single], memoryLog().log);
    try {
      const monitor = pullingReplicator([b, join(base, 'copy', 'one.conf')], served.port, memoryLog().log);
      await monitor.sync('127.0.0.1');
      expect(await readFile(join(base, 'copy', 'one.conf'), 'utf8')).to.equal('one');
    } finally {
      await served.replicator.stopServing();
    }
  });

  it('a crash injected between write and rename leaves each file old or new, and the next sync completes', async () => {
    const monitor = pullingReplicator([b], port, memoryLog().log);
    await monitor.sync('127.0.0.1');
    await writeFile(join(a, 'etc/app.conf'), 'version 2');
    await writeFile(join(a, 'var/db'), 'rows version 2');
    const crashing = pullingReplicator([b], port, memoryLog().log, {
      hooks: {
        step: (step, tempPath) => {
          if (step === 'after-fsync' && basename(tempPath).startsWith('.db.hotspare-tmp-'))
            throw new Error('simulated crash between fsync and rename');
        },
      },
    });
    const error = await rejection(crashing.sync('127.0.0.1'));
    expect(String(error)).to.include('simulated crash');
    expect(await readFile(join(b, 'etc/app.conf'), 'utf8')).to.equal('version 2');
    expect(await readFile(join(b, 'var/db'), 'utf8')).to.equal('rows');
    expect((await readdir(join(b, 'var'))).filter(isTempName)).to.deep.equal([]);
    await monitor.sync('127.0.0.1');
    expect(await readTree(b)).to.deep.equal(await readTree(a));
  });

  it('never writes through a local symlink planted where the primary has a directory', async () => {
    const outside = join(base, 'outside');
    await makeTree(outside, { db: 'outside, must not change' });
    await mkdir(b);
    await symlink(outside, join(b, 'var'));
    const monitor = pullingReplicator([b], port, memoryLog().log);
    await monitor.sync('127.0.0.1');
    expect(await readFile(join(outside, 'db'), 'utf8')).to.equal('outside, must not change');
    expect(await readTree(b)).to.deep.equal(await readTree(a));
  });

  it('reads the key file once, refusing one readable by others or too short', async () => {
    const keyFile = join(base, 'sync.key');
    await writeFile(keyFile, `${SECRET}\n`, { mode: 0o644 });
    const config = {
      everyProbes: 100,
      paths: [b],
      port: 7623,
      keyFile,
      maxFileBytes: 1,
      maxTotalBytes: 1,
      timeoutMs: 1000,
      finalMs: 2000,
    };
    expect(() => TlsReplicator.fromConfig(config)).to.throw(SyncError, /readable by group or others.*chmod 600/);
    await chmod(keyFile, 0o600);
    expect(TlsReplicator.fromConfig(config)).to.be.instanceOf(TlsReplicator);
    await writeFile(keyFile, 'short', { mode: 0o600 });
    let message = '';
    try {
      TlsReplicator.fromConfig(config);
    } catch (error) {
      message = String(error);
    }
    expect(message).to.match(/holds 5 bytes; at least 16/);
    expect(message).not.to.include('short');
    expect(() => TlsReplicator.fromConfig({ ...config, keyFile: join(base, 'nope') })).to.throw(
      SyncError,
      /cannot read/,
    );
  });
});

describe('sync/psk: the secret does not linger', () => {
  it('fromDerived zeroes the bytes it was given once it holds its own copy', async () => {
    const { SyncKey } = await import('../../../src/sync/wire/psk.js');
    const key = SyncKey.fromSecret(Buffer.from('0123456789abcdef0123456789abcdef'));
    const bytes = key.derivedForWorker();
    expect(bytes.some((b) => b !== 0)).to.equal(true);
    const copy = SyncKey.fromDerived(bytes);
    expect(bytes.every((b) => b === 0)).to.equal(true);
    expect(Buffer.from(copy.derivedForWorker()).equals(Buffer.from(key.derivedForWorker()))).to.equal(true);
  });
});
