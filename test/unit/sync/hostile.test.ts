/**
 * A primary that holds the key but sends garbage or a hostile manifest: every case is
 * refused with a clear SyncError, the connection is dropped, and nothing on the monitor
 * changes (inside its root or outside).
 */
import { expect } from 'chai';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import type { Server } from 'node:tls';
import { SyncError } from '../../../hal/errors/index.js';
import { FrameReader, FrameWriter } from '../../../src/sync/wire/frames.js';
import { ATTACKS } from '../../fixtures/sync-attacks.js';
import type { Script } from '../../fixtures/sync-attacks.js';
import { KEY, makeTree, memoryLog, pullingReplicator, readTree, rejection } from './helpers.js';

function hostileServer(script: Script): Promise<{ server: Server; port: number }> {
  const server = createServer(KEY.serverOptions(5000), (socket) => {
    socket.on('error', () => undefined);
    const peer = {
      socket,
      reader: new FrameReader(socket[Symbol.asyncIterator](), 'monitor'),
      writer: new FrameWriter(socket, 'monitor'),
    };
    script(peer, 1).catch(() => socket.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })),
  );
}

describe('sync/hostile primary: malformed or hostile manifests and frames are refused without harm', function () {
  this.timeout(20_000);
  let base: string;
  let root: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hs-hostile-'));
    root = join(base, 'copy');
    await makeTree(root, { 'keep.txt': 'old complete version', 'd/': '', 'd/inner': 'inner' });
    await makeTree(join(base, 'outside'), { victim: 'untouched' });
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('abandons a pull in progress when this server becomes primary, dropping the half-copied file', async () => {
    let stalled: () => void = () => undefined;
    const midFile = new Promise<void>((resolve) => {
      stalled = resolve;
    });
    const { server, port } = await hostileServer(async (p) => {
      await p.reader.header();
      await p.writer.header({ t: 'hello', v: 1, roots: 1 });
      await p.reader.header();
      const content = 'y'.repeat(100_000);
      await p.writer.header({ t: 'manifest', roots: ['dir'] });
      await p.writer.header({
        t: 'entries',
        entries: [
          {
            type: 'file',
            root: 0,
            path: 'keep.txt',
            size: content.length,
            mode: 0o644,
            mtimeMs: Date.now(),
            sha256: 'b'.repeat(64),
          },
        ],
      });
      await p.writer.header({ t: 'manifest-end', count: 1 });
      await p.reader.header();
      await p.writer.header({ t: 'file', root: 0, path: 'keep.txt' });
      await p.writer.data(Buffer.from(content.slice(0, 50_000)));
      stalled(); // and never a byte more
    });
    const monitor = pullingReplicator([root], port, memoryLog().log, { timeoutMs: 60_000, thread: 'worker' });
    try {
      const pulling = rejection(monitor.sync('127.0.0.1'));
      await midFile;
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      // Another loopback address: the hostile server holds 127.0.0.1 on this port.
      await monitor.serve('127.0.0.2');
      expect(Date.now() - started).to.be.below(1000);
      expect(String(await pulling)).to.match(/sync abandoned \(this server became primary\)/);
      expect(await readTree(root)).to.deep.equal({ 'd/': '', 'd/inner': 'inner', 'keep.txt': 'old complete version' });
    } finally {
      await monitor.close();
      server.close();
    }
  });

  for (const c of ATTACKS) {
    it(`refuses ${c.name}`, async () => {
      const before = await readTree(base);
      const { server, port } = await hostileServer(c.script);
      try {
        const monitor = pullingReplicator([root], port, memoryLog().log, { timeoutMs: c.timeoutMs ?? 5000 });
        const error = await rejection(monitor.sync('127.0.0.1'));
        expect(error).to.be.instanceOf(SyncError);
        expect(String(error)).to.match(c.message);
        expect((error as SyncError).kind).to.equal(c.kind);
      } finally {
        server.close();
      }
      expect(await readTree(base)).to.deep.equal(before);
      expect(await readdir(base)).to.deep.equal(['copy', 'outside']);
    });
  }
});
