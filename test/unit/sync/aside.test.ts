/**
 * Issue 12 #16 (sync part): a monitor that never completed a sync takes over and serves an
 * empty copy; the old primary, rejoining as monitor, must not lose its copy to it. What it
 * would delete is moved to <state_dir>/sync-aside/<time>/root-<i>/ with a warning.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootsToSetAside, topmost } from '../../../src/sync/client/aside.js';
import type { TlsReplicator } from '../../../src/sync/index.js';
import type { ManifestEntry } from '../../../src/sync/wire/types.js';
import { makeTree, memoryLog, pullingReplicator, readTree, rejection } from './helpers.js';
import type { TreeSpec } from './helpers.js';

const DATA: TreeSpec = { 'app/': '', 'app/a.conf': 'a=1', 'app/b.db': 'rows', 'top.txt': 'top' };

/** A loopback port nobody listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The one pull directory under `<stateDir>/sync-aside`, as a tree. */
async function asideTree(stateDir: string): Promise<TreeSpec> {
  const pulls = await readdir(join(stateDir, 'sync-aside'));
  expect(pulls).to.have.length(1);
  return readTree(join(stateDir, 'sync-aside', pulls[0] ?? ''));
}

describe('sync/aside: deletions from a primary with an incomplete, empty or much smaller copy (issue 12 #16)', function () {
  this.timeout(20_000);
  let base: string;
  let oldPrimary: string;
  let newPrimary: string;
  let oldState: string;
  let newState: string;
  let port: number;
  const open: TlsReplicator[] = [];

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hs-aside-'));
    oldPrimary = join(base, 'p');
    newPrimary = join(base, 'm');
    oldState = join(base, 'state-p');
    newState = join(base, 'state-m');
    await makeTree(oldPrimary, DATA);
    await mkdir(newPrimary);
    port = await freePort();
  });

  afterEach(async () => {
    for (const replicator of open.splice(0)) await replicator.close();
    await rm(base, { recursive: true, force: true });
  });

  /** The server that takes over: it serves its copy on `port` (after failed pulls, if asked). */
  async function takeOver(failedPulls: number): Promise<void> {
    const monitor = pullingReplicator([newPrimary], port, memoryLog().log, { stateDir: newState, timeoutMs: 1000 });
    open.push(monitor);
    for (let i = 0; i < failedPulls; i++) await rejection(monitor.sync('127.0.0.1'));
    await monitor.serve('127.0.0.1');
  }

  it('the new primary never completed a sync: the rejoining server moves its files aside, with a warning', async () => {
    await takeOver(1);
    expect(JSON.parse(await readFile(join(newState, 'sync-copy.json'), 'utf8'))).to.deep.equal({ copy: 'incomplete' });
    const logged = memoryLog();
    const rejoined = pullingReplicator([oldPrimary], port, logged.log, { stateDir: oldState });
    open.push(rejoined);
    const result = await rejoined.sync('127.0.0.1');
    expect(result.deleted).to.equal(0);
    expect(await readTree(oldPrimary)).to.deep.equal({});
    expect(await asideTree(oldState)).to.deep.equal({
      'root-0/': '',
      'root-0/app/': '',
      'root-0/app/a.conf': 'a=1',
      'root-0/app/b.db': 'rows',
      'root-0/top.txt': 'top',
    });
    const warning = logged.lines.find((line) => line.event === 'sync-aside');
    expect(warning?.level).to.equal('warn');
    expect(warning?.message).to.match(/moved 2 entries .* never completed a sync/);
    // The rejoined server completed a pull: it now reports a complete copy.
    expect(JSON.parse(await readFile(join(oldState, 'sync-copy.json'), 'utf8'))).to.deep.equal({ copy: 'complete' });
  });

  it('a takeover before any pull (no recorded state) serving an empty tree: files are moved aside too', async () => {
    await takeOver(0);
    const rejoined = pullingReplicator([oldPrimary], port, memoryLog().log, { stateDir: oldState });
    open.push(rejoined);
    await rejoined.sync('127.0.0.1');
    expect(await readTree(oldPrimary)).to.deep.equal({});
    expect(Object.keys(await asideTree(oldState))).to.include('root-0/app/b.db');
  });

  it('without a state_dir such deletions are held back and the pull reports them', async () => {
    await takeOver(1);
    const rejoined = pullingReplicator([oldPrimary], port, memoryLog().log);
    open.push(rejoined);
    const error = await rejection(rejoined.sync('127.0.0.1'));
    expect(String(error)).to.match(/partial sync .*root 0: app not deleted: the primary has never completed a sync/);
    expect(await readTree(oldPrimary)).to.deep.equal(DATA);
  });

  it('a new primary that completed a sync: a few deletions propagate as usual, nothing is set aside', async () => {
    // The monitor completes a pull from the old primary, then takes over.
    const old = pullingReplicator([oldPrimary], port, memoryLog().log, { stateDir: oldState });
    open.push(old);
    await old.serve('127.0.0.1');
    const monitor = pullingReplicator([newPrimary], port, memoryLog().log, { stateDir: newState });
    open.push(monitor);
    await monitor.sync('127.0.0.1');
    await old.stopServing();
    await monitor.serve('127.0.0.1');
    await rm(join(newPrimary, 'top.txt'));
    await writeFile(join(newPrimary, 'app', 'c.log'), 'new');
    const result = await old.sync('127.0.0.1');
    expect(result).to.deep.include({ deleted: 1, files: 1 });
    expect(await readTree(oldPrimary)).to.deep.equal(await readTree(newPrimary));
    expect(await readdir(oldState)).to.deep.equal(['sync-copy.json']);
  });
});

describe('sync/aside: which deletions are set aside (pure)', () => {
  const f = (path: string, root = 0): ManifestEntry => ({
    type: 'file',
    root,
    path,
    size: 1,
    mode: 0o600,
    mtimeMs: 1,
    sha256: 'a'.repeat(64),
  });
  const d = (path: string, root = 0): ManifestEntry => ({ type: 'dir', root, path, mode: 0o700 });
  const local = [d('x'), f('x/1'), f('x/2'), f('y'), f('z', 1)];

  it('an incomplete copy sets aside any deletion; otherwise only more than half of a root', () => {
    const few = { clear: [], remove: [f('y')] };
    expect(rootsToSetAside(undefined, few, local, new Set([0, 1]))).to.deep.equal(new Map());
    expect([...rootsToSetAside('incomplete', few, local, new Set([0, 1])).keys()]).to.deep.equal([0]);
    const most = { clear: [], remove: [f('x/1'), f('x/2'), d('x')] };
    expect(rootsToSetAside('complete', most, local, new Set([0, 1])).get(0)).to.equal(
      "the primary's copy would delete 3 of the 4 entries here",
    );
  });

  it('a directory moves with what is under it', () => {
    const entries = [f('x/1'), f('x/2'), d('x'), f('y'), f('z', 1)];
    expect(topmost(entries, new Set([0])).map((e) => e.path)).to.deep.equal(['x', 'y']);
  });
});
