/**
 * Issue 12 #10: the control socket's JSON requests go through the shell's catalog: the same
 * names, confirmation, password and pacing as the maintenance shell. A real unix socket in a
 * temp dir, the agent simulated by FakeOperator.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer, operatorHandler, parseControlRequest } from '../../../src/control/index.js';
import type { ControlResponse } from '../../../src/control/index.js';
import { CATALOG } from '../../../src/shell/catalog.js';
import { CommandPacer, parseLine } from '../../../src/shell/index.js';
import { FakeOperator } from '../shell/fixtures.js';
import type { Logged } from '../shell/fixtures.js';

const PASSWORD = 'correct horse';
const WRONG = 'tr0ub4dor-guess';

/** Sends request lines on one connection; resolves with one response per line, in arrival order. */
function exchange(path: string, requests: object[]): Promise<ControlResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    const answers: ControlResponse[] = [];
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(requests.map((r) => `${JSON.stringify(r)}\n`).join('')));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        answers.push(JSON.parse(buffer.slice(0, newline)) as ControlResponse);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
      if (answers.length === requests.length) {
        socket.end();
        resolve(answers);
      }
    });
    socket.on('error', reject);
  });
}

async function ask(path: string, request: object): Promise<ControlResponse> {
  const [answer] = await exchange(path, [request]);
  if (answer === undefined) throw new Error('no answer');
  return answer;
}

function errorOf(answer: ControlResponse): string {
  expect(answer.ok, JSON.stringify(answer)).to.equal(false);
  return answer.ok ? '' : answer.error;
}

describe('control socket: one command catalog with the shell (issue 12 #10)', () => {
  let dir: string;
  let path: string;
  let server: ControlServer | null;
  let operator: FakeOperator;
  let logged: Logged[];
  let slept: number[];

  async function serve(options: { password: boolean; pacer?: CommandPacer }): Promise<void> {
    const passwordFile = join(dir, 'shell.pass');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    server = new ControlServer(
      path,
      operatorHandler({
        operator,
        passwordFile: options.password ? passwordFile : null,
        log: (level, event, message, fields = {}) => logged.push({ level, event, message, fields }),
        pacer: options.pacer ?? new CommandPacer(0),
        sleep: async (ms) => void slept.push(ms),
      }),
    );
    await server.listen();
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-catalog-'));
    path = join(dir, 'control.sock');
    operator = new FakeOperator();
    logged = [];
    slept = [];
    server = null;
  });
  afterEach(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a dangerous command without "confirm": "yes", naming what is missing', async () => {
    await serve({ password: false });
    for (const command of ['fence b', 'promote', 'demote', 'maintenance on']) {
      // as the old socket took them (command + args), and as one line
      const [verb = '', ...args] = command.split(' ');
      expect(errorOf(await ask(path, { command: verb, args }))).to.contain(`${command} changes the cluster`);
      const error = errorOf(await ask(path, { command }));
      expect(error).to.contain(`${command} changes the cluster`);
      expect(error).to.contain('needs "confirm": "yes"');
      expect(error).to.contain('nothing done');
      expect(errorOf(await ask(path, { command, confirm: 'no' }))).to.contain('"confirm": "yes"');
    }
    expect(operator.mutations()).to.deep.equal([]);
    const done = await ask(path, { command: 'fence b', confirm: 'yes' });
    expect(done).to.deep.equal({ ok: true, result: { member: 'b', result: 'power off confirmed' } });
    expect(operator.mutations()).to.deep.equal(['fence b']);
  });

  it('with a shell password set: refused without it and with a wrong one (never echoed or logged); runs with both', async () => {
    await serve({ password: true });
    const none = errorOf(await ask(path, { command: 'maintenance', args: ['on'], confirm: 'yes' }));
    expect(none).to.contain('needs "password" (shell.password_file is set)');
    const neither = errorOf(await ask(path, { command: 'promote' }));
    expect(neither).to.contain('needs "confirm": "yes" and "password"');
    const wrong = await ask(path, { command: 'fence b', confirm: 'yes', password: WRONG });
    expect(errorOf(wrong)).to.contain('wrong password; nothing done');
    expect(JSON.stringify(wrong)).not.to.contain(WRONG);
    expect(slept).to.deep.equal([1000]); // the shell's wait after a first wrong password
    expect(errorOf(await ask(path, { command: 'fence b', confirm: 'yes', password: `${WRONG}2` }))).to.contain(
      'wrong password',
    );
    expect(slept).to.deep.equal([1000, 2000]); // doubles, across connections
    expect(operator.mutations()).to.deep.equal([]);
    const failed = logged.filter((l) => l.event === 'shell-auth-failed');
    expect(failed).to.have.length(2);
    expect(JSON.stringify(logged)).not.to.contain(WRONG);

    const done = await ask(path, { command: 'maintenance on', confirm: 'yes', password: PASSWORD });
    expect(done).to.deep.include({ ok: true });
    expect(operator.mutations()).to.deep.equal(['maintenance-on']);
    expect(JSON.stringify(logged)).not.to.contain(PASSWORD);
    expect(logged.map((l) => l.event)).to.include('shell-command');
    // read-only commands (hotspare status) need neither
    expect(await ask(path, { command: 'status' })).to.deep.include({ ok: true });
  });

  it('speaks the shell grammar: bmc NODE status and sync work, the old names say the new spelling', async () => {
    await serve({ password: false });
    expect(await ask(path, { command: 'bmc b status' })).to.deep.equal({
      ok: true,
      result: {
        member: 'b',
        power: 'on',
        levels: [{ level: 1, device: 'BMC 10.0.1.2', power: 'on', error: null, tookUs: 12_000 }],
        port: null,
      },
    });
    expect(await ask(path, { command: 'bmc', args: ['b', 'status'] })).to.deep.equal({
      ok: true,
      result: {
        member: 'b',
        power: 'on',
        levels: [{ level: 1, device: 'BMC 10.0.1.2', power: 'on', error: null, tookUs: 12_000 }],
        port: null,
      },
    });
    expect(await ask(path, { command: 'sync status' })).to.deep.include({ ok: true });
    const now = await ask(path, { command: 'sync', args: ['now'] });
    expect(now.ok && (now.result as { result: unknown }).result).to.deep.include({ files: 2 });
    expect(errorOf(await ask(path, { command: 'bmc-status', args: ['b'] }))).to.contain(
      'bmc-status is now spelled as in the shell: bmc NODE status',
    );
    expect(errorOf(await ask(path, { command: 'bmc b' }))).to.contain('usage: bmc NODE status');
    expect(errorOf(await ask(path, { command: 'exit' }))).to.contain('for a shell session');
    expect(errorOf(await ask(path, { command: 'probe', args: ['198.18.0.1 3'] }))).to.contain('one word');
  });

  it('paces 500 pipelined probe requests like the shell (pacer interval x count)', async () => {
    const spacingMs = 5;
    await serve({ password: false, pacer: new CommandPacer(spacingMs) });
    const count = 500;
    const started = performance.now();
    const answers = await exchange(
      path,
      Array.from({ length: count }, () => ({ command: 'probe', args: ['198.18.0.10', '100'] })),
    );
    const tookMs = performance.now() - started;
    expect(answers.every((a) => a.ok)).to.equal(true);
    expect(tookMs).to.be.at.least(spacingMs * (count - 1));
    expect(tookMs).to.be.below(spacingMs * count * 6); // generous: a loaded machine
  });

  it('every shell command in the catalog is reachable over the socket with the same parse', async () => {
    await serve({ password: true });
    for (const spec of CATALOG) {
      const line = spec.example;
      const [verb, ...args] = line.split(' ');
      expect(verb, `${spec.name}'s example starts with its name`).to.equal(spec.name);
      const shell = parseLine(line);
      expect(shell.kind, line).to.equal('command');
      expect(parseControlRequest({ command: line }), line).to.deep.equal(shell);
      expect(parseControlRequest({ command: spec.name, args }), line).to.deep.equal(shell);
      const answer = await ask(path, {
        command: line,
        ...(spec.mutating ? { confirm: 'yes', password: PASSWORD } : {}),
      });
      if (spec.sessionOnly === true) expect(errorOf(answer), line).to.contain('for a shell session');
      else expect(answer, line).to.deep.include({ ok: true });
    }
  });
});
