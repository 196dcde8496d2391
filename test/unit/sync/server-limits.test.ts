/**
 * The sync server's connection slots on loopback: idle TCP connections from one address (no
 * TLS ever) must not keep the monitor's pull out, and what is refused is logged, briefly.
 * 127.0.0.2 plays the other host: loopback answers for all of 127/8.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashCache } from '../../../src/sync/files/hash-cache.js';
import { RefusalLog } from '../../../src/sync/server/refusal-log.js';
import { SyncServer } from '../../../src/sync/server/server.js';
import { KEY, makeTree, memoryLog, pullingReplicator, readTree } from './helpers.js';
import type { LoggedLine } from './helpers.js';

const FLOODER = '127.0.0.2';

/** Opens `count` TCP connections from `from` that never send a byte. */
async function idleConnections(port: number, from: string, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => resolve());
    });
    sockets.push(socket);
  }
  return sockets;
}

async function until(test: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!test() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return test();
}

describe('sync/server: connection limits against idle connections', function () {
  this.timeout(20_000);
  let base = '';
  let server: SyncServer | null = null;
  let lines: LoggedLine[] = [];
  const sockets: Socket[] = [];

  async function serve(handshakeMs?: number): Promise<number> {
    const logged = memoryLog();
    lines = logged.lines;
    server = new SyncServer({
      roots: [join(base, 'a')],
      key: KEY,
      port: 0,
      timeoutMs: 10_000,
      cache: new HashCache(),
      log: logged.log,
      ...(handshakeMs === undefined ? {} : { handshakeMs }),
    });
    await server.listen('127.0.0.1');
    return server.port;
  }

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hs-sync-limits-'));
    await makeTree(join(base, 'a'), { 'app.conf': 'listen 80\n', 'data/': '', 'data/db': 'rows' });
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.close();
    server = null;
    await rm(base, { recursive: true, force: true });
  });

  it('32 idle connections from one address: the monitor still pulls, the refusal is logged once', async () => {
    const port = await serve();
    sockets.push(...(await idleConnections(port, FLOODER, 32)));
    const monitor = pullingReplicator([join(base, 'b')], port, memoryLog().log);
    const result = await monitor.sync('127.0.0.1').finally(() => monitor.close());
    expect(result.files).to.equal(2);
    expect(await readTree(join(base, 'b'))).to.deep.equal({
      'app.conf': 'listen 80\n',
      'data/': '',
      'data/db': 'rows',
    });
    const refused = lines.filter((l) => l.event === 'sync-refused' && l.fields['peer'] === FLOODER);
    expect(refused).to.have.length(1);
    expect(refused[0]?.fields['reason']).to.match(/too many connections from this address/);
  });

  it('an idle connection is dropped after the handshake limit and the drop is logged', async () => {
    const port = await serve(200);
    const [idle] = await idleConnections(port, FLOODER, 1);
    if (idle !== undefined) sockets.push(idle);
    const started = performance.now();
    expect(await until(() => idle?.destroyed === true || idle?.readableEnded === true, 3000)).to.equal(true);
    expect(performance.now() - started).to.be.below(2000);
    expect(
      await until(
        () => lines.some((l) => l.event === 'sync-refused' && /no TLS handshake/.test(String(l.fields['reason']))),
        1000,
      ),
    ).to.equal(true);
  });
});

describe('sync/refusal-log: refusal lines are rate-limited per address and overall', () => {
  it('one line per address per interval, at most perWindow in all, held-back refusals counted', () => {
    let now = 0;
    const log = new RefusalLog({ perPeerMs: 1000, perWindow: 3 }, () => now);
    expect(log.admit('10.0.0.1')).to.deep.equal({ peerSuppressed: 0, otherSuppressed: 0 });
    expect(log.admit('10.0.0.1')).to.equal(null);
    // A flood from many addresses: three lines in the window, the rest counted.
    const lines = Array.from({ length: 100 }, (_, i) => log.admit(`10.0.1.${i}`)).filter((a) => a !== null);
    expect(lines).to.have.length(2);
    now = 1000;
    expect(log.admit('10.0.0.1')).to.deep.equal({ peerSuppressed: 1, otherSuppressed: 98 });
  });
});
