import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer, request } from '../../src/control/index.js';

function rawExchange(path: string, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let out = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(data));
    socket.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) {
        socket.end();
        resolve(out.trim());
      }
    });
    socket.on('error', reject);
  });
}

describe('control socket', () => {
  let dir: string;
  let server: ControlServer;
  let path: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-control-'));
    path = join(dir, 'run', 'control.sock');
    server = new ControlServer(path, async (command, args) => {
      if (command === 'status') return { role: 'monitor', args };
      throw new Error(`unknown command ${JSON.stringify(command)}`);
    });
    await server.listen();
  });
  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a request with one JSON line, and the socket is private (0600)', async () => {
    expect(await request(path, 'status', ['x'])).to.deep.equal({ role: 'monitor', args: ['x'] });
    expect(statSync(path).mode & 0o777).to.equal(0o600);
  });

  it('answers garbage with a clear error and keeps serving', async () => {
    expect(await rawExchange(path, 'not json\n')).to.contain('request is not valid JSON');
    expect(await rawExchange(path, '[1,2]\n')).to.contain('request must be a JSON object');
    expect(await rawExchange(path, '{"command": 5}\n')).to.contain('needs a \\"command\\" string');
    expect(await rawExchange(path, Buffer.from([0xff, 0x00, 0xfe, 0x0a]))).to.contain('not valid JSON');
    expect(await rawExchange(path, 'x'.repeat(70 * 1024))).to.contain('longer than');
    try {
      await request(path, 'reboot-everything');
      expect.fail('should have been rejected');
    } catch (error) {
      expect(String(error)).to.contain('unknown command "reboot-everything"');
    }
    expect(await request(path, 'status')).to.deep.include({ role: 'monitor' });
  });

  it('survives a client that disconnects mid-request', async () => {
    await new Promise<void>((resolve) => {
      const socket = createConnection(path, () => {
        socket.write('{"command": "sta');
        socket.destroy();
        resolve();
      });
    });
    expect(await request(path, 'status')).to.deep.include({ role: 'monitor' });
  });

  it('refuses to start when another agent answers on the same socket, and replaces a stale file', async () => {
    const second = new ControlServer(path, async () => null);
    try {
      await second.listen();
      expect.fail('a second server started on a live socket');
    } catch (error) {
      expect(String(error)).to.contain('in use by another running agent');
    }
    await server.close();
    writeFileSync(path, ''); // a stale leftover, nobody listening
    server = new ControlServer(path, async () => 'fresh');
    await server.listen();
    expect(await request(path, 'anything')).to.equal('fresh');
  });

  it('the client says clearly when no agent is listening', async () => {
    try {
      await request(join(dir, 'nobody.sock'), 'status');
      expect.fail('should not connect');
    } catch (error) {
      expect(String(error)).to.contain('no agent is listening there');
    }
  });
});
