/**
 * `hotspare run`'s exit paths with the real CLI in a network namespace (root): the agent
 * takes the primary address on a veth, then SIGTERM or an uncaught error ends it (SIGHUP reloads),
 * and the address must be gone from the interface when the process has exited, with the
 * exit code src/cli/run.ts documents (EXIT_CODES).
 *
 * The uncaught error comes from a preloaded module (node --import) that throws on SIGUSR2:
 * the agent's own code has no way to be made to throw from outside.
 */
import { IN_CI } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { EXIT_CODES } from '../../../src/cli/run.js';
import { request } from '../../../src/control/index.js';

const run = promisify(execFile);
const MAIN = resolve('dist/src/cli/main.js');
const PRIMARY = '198.18.0.10/24';

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

/** The IPv4 addresses on `dev` in `netns`, as `a.b.c.d/len`. */
async function addresses(netns: string, dev: string): Promise<string[]> {
  const out = await ip('-n', netns, '-o', '-4', 'addr', 'show', 'dev', dev);
  return [...out.matchAll(/inet (\S+)/g)].map((m) => m[1] ?? '');
}

async function until(test: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (await test()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 50));
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

describe('hotspare run: exit paths release the addresses (network namespace, root)', function () {
  this.timeout(30_000);
  const id = randomBytes(3).toString('hex');
  const netns = `hsx${id}-a`;
  const peer = `hsx${id}-p`;
  let dir = '';
  let child: ChildProcess | null = null;
  let output = '';

  before(async function () {
    if (process.getuid?.() !== 0) {
      if (IN_CI) throw new Error('CI=true and a prerequisite is missing: root (network namespaces)');
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'hotspare-exit-'));
    await ip('netns', 'add', netns);
    await ip('netns', 'add', peer);
    await ip('link', 'add', `hsx${id}0`, 'netns', netns, 'type', 'veth', 'peer', 'name', `hsx${id}1`, 'netns', peer);
    await ip('-n', netns, 'link', 'set', `hsx${id}0`, 'name', 'eth0');
    await ip('-n', netns, 'link', 'set', 'eth0', 'address', '02:00:00:00:00:0a', 'up');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
    await ip('-n', peer, 'link', 'set', `hsx${id}1`, 'up');
    writeFileSync(
      join(dir, 'board.yaml'),
      ['name: exit-test', 'nic: eth0', 'bmc: { power_cycle: off-on, timeout_ms: 500 }', 'reboot: restart', ''].join(
        '\n',
      ),
    );
    writeFileSync(
      join(dir, 'throw-on-usr2.mjs'),
      "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected by the test'); }));\n",
    );
  });

  after(async () => {
    await ip('netns', 'del', netns).catch(() => undefined);
    await ip('netns', 'del', peer).catch(() => undefined);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    // Only our own agent, by its PID, if a failed test left it running.
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (this.currentTest?.state === 'failed') console.log(output.slice(-3000));
    child = null;
  });

  /** Starts the agent in the namespace (a fresh state dir: it boots as primary) and waits for the address. */
  function writeConfig(name: string, socket: string): string {
    const config = join(dir, `${name}.yaml`);
    writeFileSync(
      config,
      [
        'node: a',
        'board: board.yaml',
        'cluster:',
        `  primary_address: ${PRIMARY}`,
        '  monitor_address: 198.18.0.9/24',
        '  members:',
        '    - { name: a, mac: "02:00:00:00:00:0a" }',
        '    - { name: b, mac: "02:00:00:00:00:0b" }',
        'fencing: { required: false }',
        'boot: { jitter_ms: 10, check_ms: 50 }',
        `state_dir: ${join(dir, `${name}-state`)}`,
        `control_socket: ${socket}`,
        'log: { format: json }',
        '',
      ].join('\n'),
    );
    return config;
  }

  async function startAgent(name: string, nodeArgs: string[] = []): Promise<{ exited: Promise<Exit> }> {
    const config = writeConfig(name, join(dir, `${name}.sock`));
    // An address left by an earlier failed test would look like this agent's.
    await ip('-n', netns, 'addr', 'flush', 'dev', 'eth0');
    output = '';
    const started = spawn(
      'ip',
      ['netns', 'exec', netns, process.execPath, ...nodeArgs, MAIN, 'run', '--config', config],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = started;
    started.stdout.on('data', (d: Buffer) => (output += d.toString()));
    started.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<Exit>((done) => started.on('exit', (code, signal) => done({ code, signal })));
    expect(await until(async () => (await addresses(netns, 'eth0')).includes(PRIMARY), 10_000)).to.equal(true);
    // Wrapped: an async function returning the promise itself would wait for the exit.
    return { exited };
  }

  it('SIGHUP: reloads (log.level applied, other changes named as needing a restart), keeps running and holding', async () => {
    const { exited } = await startAgent('hup');
    const config = join(dir, 'hup.yaml');
    const text = readFileSync(config, 'utf8');
    writeFileSync(
      config,
      text
        .replace('log: { format: json }', 'log: { format: json, level: warn }')
        .replace('jitter_ms: 10', 'jitter_ms: 20'),
    );
    child?.kill('SIGHUP');
    expect(await until(async () => /"event":"reload"/.test(output), 5000), output).to.equal(true);
    expect(output)
      .to.match(/applied: log\.level/)
      .and.to.match(/needing a restart \(systemctl restart hotspare\): boot\.jitter_ms/);
    // An invalid config is refused and the running one stays.
    writeFileSync(config, text.replace('node: a', 'node: zz'));
    child?.kill('SIGHUP');
    expect(await until(async () => /was not reloaded/.test(output), 5000), output).to.equal(true);
    expect(child?.exitCode).to.equal(null);
    expect(await addresses(netns, 'eth0')).to.include(PRIMARY);
    child?.kill('SIGTERM');
    expect(await exited).to.deep.equal({ code: 0, signal: null });
  });

  it('SIGTERM: the same clean shutdown, exit code 0', async () => {
    const { exited } = await startAgent('term');
    child?.kill('SIGTERM');
    expect(await exited).to.deep.equal({ code: 0, signal: null });
    expect(await addresses(netns, 'eth0')).to.not.include(PRIMARY);
  });

  it('an uncaught exception: logged, the address released, exit code 70', async () => {
    const { exited } = await startAgent('fatal', ['--import', join(dir, 'throw-on-usr2.mjs')]);
    child?.kill('SIGUSR2');
    expect(await exited).to.deep.equal({ code: EXIT_CODES.fatal, signal: null });
    expect(EXIT_CODES.fatal).to.equal(70);
    expect(await addresses(netns, 'eth0')).to.not.include(PRIMARY);
    expect(output)
      .to.match(/"event":"fatal"/)
      .and.to.match(/uncaught exception: Error: injected by the test/);
  });

  it('a second agent on the same control socket: exits 1 promptly with a clear error, the first keeps running', async () => {
    const { exited: firstExited } = await startAgent('first');
    const first = child;
    const config = writeConfig('second', join(dir, 'first.sock'));
    const started = performance.now();
    const second = spawn('ip', ['netns', 'exec', netns, process.execPath, MAIN, 'run', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let secondOutput = '';
    second.stdout.on('data', (d: Buffer) => (secondOutput += d.toString()));
    second.stderr.on('data', (d: Buffer) => (secondOutput += d.toString()));
    const exit = await new Promise<Exit | 'still running'>((done) => {
      const timer = setTimeout(() => done('still running'), 5000);
      second.on('exit', (code, signal) => {
        clearTimeout(timer);
        done({ code, signal });
      });
    });
    // Only the second agent, by its PID, if it did not end by itself.
    if (exit === 'still running') second.kill('SIGKILL');
    expect(exit, secondOutput).to.deep.equal({ code: 1, signal: null });
    expect(performance.now() - started).to.be.below(5000);
    expect(secondOutput).to.contain(`control socket ${join(dir, 'first.sock')} is in use by another running agent`);
    // It closed what it had opened (ARP helper, sockets) by itself: the CLI's backstop exit
    // for a process still held open after a failure did not have to fire.
    expect(secondOutput).to.not.contain('left open after the failure');
    // The first agent still runs, answers on its socket and holds its address.
    expect(first?.exitCode).to.equal(null);
    expect(await request(join(dir, 'first.sock'), 'status')).to.include({ role: 'primary' });
    expect(await addresses(netns, 'eth0')).to.include(PRIMARY);
    first?.kill('SIGTERM');
    expect(await firstExited).to.deep.equal({ code: 0, signal: null });
  });
});
