import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer, request } from '../../../src/control/index.js';

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

/** A socket file nobody listens on: a process that bound it was killed before it could clean up. */
function leaveStaleSocket(path: string): void {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script]);
}

describe('control socket', () => {
  let dir: string;
  let server: ControlServer;
  let path: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-control-'));
    path = join(dir, 'run', 'control.sock');
    server = new ControlServer(path, async ({ command, args = [] }) => {
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

  it('refuses to start when another agent answers on the same socket, and replaces a stale socket', async () => {
    const second = new ControlServer(path, async () => null);
    try {
      await second.listen();
      expect.fail('a second server started on a live socket');
    } catch (error) {
      expect(String(error)).to.contain('in use by another running agent');
    }
    await server.close();
    leaveStaleSocket(path);
    expect(lstatSync(path).isSocket()).to.equal(true);
    server = new ControlServer(path, async () => 'fresh');
    await server.listen();
    expect(await request(path, 'anything')).to.equal('fresh');
  });

  it('refuses a path that is not a socket (a regular file, a symlink) and leaves it alone', async () => {
    await server.close();
    writeFileSync(path, 'operator notes, not a socket\n');
    const onFile = new ControlServer(path, async () => null);
    let refusal = '';
    await onFile.listen().catch((error: unknown) => (refusal = String(error)));
    await onFile.close(); // only does something if it wrongly started
    expect(refusal).to.contain(`control socket path ${path} exists and is a regular file, not a socket`);
    expect(readFileSync(path, 'utf8')).to.equal('operator notes, not a socket\n');
    rmSync(path);
    const target = join(dir, 'target');
    writeFileSync(target, 'keep me');
    symlinkSync(target, path);
    refusal = '';
    const onLink = new ControlServer(path, async () => null);
    await onLink.listen().catch((error: unknown) => (refusal = String(error)));
    await onLink.close();
    expect(refusal).to.contain('is a symbolic link, not a socket');
    expect(lstatSync(path).isSymbolicLink()).to.equal(true);
    expect(readFileSync(target, 'utf8')).to.equal('keep me');
    rmSync(path);
    server = new ControlServer(path, async () => 'fresh');
    await server.listen();
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
