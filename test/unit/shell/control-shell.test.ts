import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ControlServer, operatorHandler, request } from '../../../src/control/index.js';
import { serveSocket } from '../../../src/shell/index.js';
import { FakeOperator, until } from './fixtures.js';
import type { Logged } from './fixtures.js';

const MAIN = resolve('dist/src/cli/main.js');

function cli(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe('shell on the control socket', () => {
  let dir: string;
  let path: string;
  let server: ControlServer;
  let operator: FakeOperator;
  let logged: Logged[];
  const sockets: Socket[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-cshell-'));
    path = join(dir, 'control.sock');
    operator = new FakeOperator();
    logged = [];
    const deps = {
      operator,
      node: 'a',
      passwordFile: null,
      log: (level: Logged['level'], event: string, message: string, fields = {}) =>
        logged.push({ level, event, message, fields }),
    };
    server = new ControlServer(path, operatorHandler(operator), (socket, initial) =>
      serveSocket(socket, initial, deps),
    );
    await server.listen();
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function connect(): { socket: Socket; output: () => string } {
    const socket = createConnection(path);
    sockets.push(socket);
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('error', () => undefined);
    return { socket, output: () => out };
  }

  it('a first request {"command":"shell"} turns the connection into a raw shell; bytes sent with it count', async () => {
    const { socket, output } = connect();
    socket.write('{"command":"shell"}\nstatus\r');
    await until(
      () => output().endsWith('hotspare a monitor> ') && output().includes('role '),
      'status through the socket',
    );
    expect(
      output().startsWith(
        '{"ok":true,"result":"shell"}\nhotspare maintenance shell on a (control socket); type help\r\nhotspare a monitor> status\r\n',
      ),
    ).to.equal(true);
    // Binary garbage and a half line, then a hang-up: the server goes on serving.
    socket.write(Buffer.from([0xff, 0x00, 0x1b, 0x9b, 0x03, 0x66, 0x65, 0x6e]));
    socket.destroy();
    expect(await request(path, 'status')).to.deep.include({ role: 'monitor' });
    await until(() => logged.length === 2, 'session end logged');
    expect(logged.map((l) => l.event)).to.deep.equal(['shell-opened', 'shell-closed']);
  });

  it('ordinary requests are unchanged, and shell is honoured only as the first request', async () => {
    expect(await request(path, 'history')).to.have.length(1);
    const { socket, output } = connect();
    socket.write('{"command":"history"}\n{"command":"shell"}\n');
    await until(() => output().split('\n').length >= 3, 'two answers');
    const [first, second] = output().split('\n');
    expect(JSON.parse(first ?? '')).to.deep.include({ ok: true });
    expect(JSON.parse(second ?? '')).to.deep.include({ ok: false });
    expect(JSON.parse(second ?? '').error).to.contain(
      'unknown command "shell" here: a shell session is asked for by a connection',
    );
  });

  it('hotspare shell from a pipe: runs the lines in order, confirms a demote, ends at end of input', async () => {
    const result = await cli(['shell', '--socket', path], 'status\r\ndemote\r\nyes\r\nhistory\r\n');
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('role      monitor');
    expect(result.stdout).to.contain(
      'type yes to go on, anything else cancels: yes\r\naccepted: demote accepted (primary -> spare)',
    );
    expect(result.stdout).to.contain('booting -> monitor');
    expect(result.stdout.endsWith('bye\r\n')).to.equal(true);
    expect(operator.mutations()).to.deep.equal(['demote']);
  });

  it('hotspare shell: end of input in the middle of a confirmation does nothing', async () => {
    const result = await cli(['shell', '--socket', path], 'fence b\r\n');
    expect(result.code).to.equal(0);
    expect(result.stdout).to.contain('cancelled; nothing done');
    expect(operator.mutations()).to.deep.equal([]);
  });

  it('hotspare shell says clearly when there is no agent, or it has no shell', async () => {
    const none = await cli(['shell', '--socket', join(dir, 'nobody.sock')], '');
    expect(none.code).to.equal(1);
    expect(none.stderr).to.contain('no agent is listening there');
    const plain = new ControlServer(join(dir, 'plain.sock'), operatorHandler(operator));
    await plain.listen();
    try {
      const refused = await cli(['shell', '--socket', join(dir, 'plain.sock')], '');
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.contain('refused a shell: unknown command "shell"');
    } finally {
      await plain.close();
    }
    const help = await cli(['shell', '--help'], '');
    expect(help.stdout).to.contain('usage: hotspare shell [--socket PATH | --config FILE]');
  });
});
