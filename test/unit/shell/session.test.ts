import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShellSession } from '../../../src/shell/index.js';
import type { ShellSessionOptions } from '../../../src/shell/index.js';
import { SimCluster } from '../../../src/sim/cluster.js';
import { FakeOperator, FakeStream, settle, until } from './fixtures.js';
import type { Logged } from './fixtures.js';

const PROMPT = 'hotspare a monitor> ';
const PASSWORD = 'correct horse';

describe('shell session', () => {
  let dir: string;
  let passwordFile: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-shell-'));
    passwordFile = join(dir, 'shell.pass');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  interface Setup {
    session: ShellSession;
    stream: FakeStream;
    operator: FakeOperator;
    logged: Logged[];
    delays: number[];
  }

  function setup(
    options: { closable?: boolean; password?: boolean; extra?: Partial<ShellSessionOptions> } = {},
  ): Setup {
    const stream = new FakeStream(options.closable ?? true);
    const operator = new FakeOperator();
    const logged: Logged[] = [];
    const delays: number[] = [];
    const session = new ShellSession({
      operator,
      node: 'a',
      stream,
      transport: options.closable === false ? 'serial' : 'socket',
      passwordFile: options.password === true ? passwordFile : null,
      log: (level, event, message, fields = {}) => logged.push({ level, event, message, fields }),
      sleep: async (ms) => {
        delays.push(ms);
      },
      ...options.extra,
    });
    session.start();
    stream.take();
    return { session, stream, operator, logged, delays };
  }

  it('greets, echoes what is typed, runs status and prompts with node and phase', async () => {
    const stream = new FakeStream(false);
    const session = new ShellSession({
      operator: new FakeOperator(),
      node: 'a',
      stream,
      transport: 'serial',
      passwordFile: null,
      log: () => undefined,
    });
    session.start();
    expect(stream.take()).to.equal(`hotspare maintenance shell on a (serial console); type help\r\n${PROMPT}`);
    stream.type('status\r');
    await until(() => stream.output.endsWith(PROMPT), 'prompt after status');
    const out = stream.take();
    expect(out.startsWith('status\r\n')).to.equal(true);
    expect(out).to.contain('role      monitor\r\n');
    expect(out).to.contain('peer rtt  min 21 median 35 p99 120');
    expect(out).to.not.match(/[^\r]\n/); // every line end is CRLF
    expect(out).to.not.contain('\x1b'); // no ANSI unless asked
  });

  it('answers every read-only command of the issue', async () => {
    const { stream, operator } = setup();
    for (const line of [
      'history',
      'probe 198.18.0.10 3',
      'bmc b status',
      'log 5',
      'config',
      'sync status',
      'sync now',
      'help',
      'help probe',
    ]) {
      stream.type(`${line}\r\n`);
      await until(() => stream.output.endsWith(PROMPT), line);
      const out = stream.take();
      expect(out, line).to.not.match(/^error:/m);
    }
    expect(operator.calls).to.include.members(['probe 198.18.0.10 3', 'bmc b', 'log 5', 'sync now']);
    expect(operator.mutations()).to.deep.equal([]);
  });

  it('garbage in: binary bytes dropped, unknown commands and long lines answered clearly, session goes on', async () => {
    const { stream, operator } = setup();
    stream.type(Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x01, 0x02, 0x1b, 0x5b, 0x41, 0x0d]));
    await settle();
    expect(stream.take()).to.equal(`\r\n${PROMPT}`);
    stream.type('frobnicate now\r');
    await settle();
    expect(stream.take()).to.equal(
      `frobnicate now\r\nerror: unknown command "frobnicate"; type help for the list\r\n${PROMPT}`,
    );
    stream.type(`${'A'.repeat(100_000)}\r`);
    await settle();
    expect(stream.take()).to.equal(
      `${'A'.repeat(512)}\r\nerror: line too long (more than 512 characters): discarded\r\n${PROMPT}`,
    );
    stream.type('probe 198.18.0.10 500\r');
    await settle();
    expect(stream.take()).to.contain(
      'error: probe: count must be a whole number from 1 to 100, got "500"; usage: probe ADDR [COUNT]',
    );
    stream.type('status\r');
    await until(() => stream.output.endsWith(PROMPT), 'status after garbage');
    expect(operator.calls).to.deep.equal(['status']);
  });

  it('a mutating command says what it will do and needs yes; anything else does nothing', async () => {
    const { stream, operator, logged } = setup();
    stream.type('demote\r');
    await settle();
    expect(stream.take()).to.equal(
      'demote\r\ndemote a: this server gives up the primary address and becomes a spare; the monitor fences it and takes over.\r\ntype yes to go on, anything else cancels: ',
    );
    stream.type('y\r');
    await settle();
    expect(stream.take()).to.equal(`y\r\nnot confirmed; nothing done\r\n${PROMPT}`);
    expect(operator.mutations()).to.deep.equal([]);
    expect(logged.map((l) => l.event)).to.deep.equal(['shell-declined']);
    stream.type('demote\rYES\r');
    await until(() => stream.output.endsWith(PROMPT), 'demote done');
    expect(stream.take()).to.contain('accepted: demote accepted (primary -> spare)\r\n');
    expect(operator.mutations()).to.deep.equal(['demote']);
    expect(logged.at(-1)).to.deep.include({ level: 'warn', event: 'shell-command' });
    expect(logged.at(-1)?.fields).to.deep.equal({ transport: 'socket', command: 'demote' });
  });

  it('Ctrl-C at the confirmation cancels it', async () => {
    const { stream, operator } = setup();
    stream.type('fence b\r\x03');
    await settle();
    expect(stream.take()).to.contain(`^C\r\ncancelled; nothing done\r\n${PROMPT}`);
    stream.type('yes\r');
    await settle();
    expect(stream.take()).to.contain('unknown command "yes"');
    expect(operator.mutations()).to.deep.equal([]);
  });

  it('with a password file: the password is asked, never echoed or logged; wrong ones wait longer each time and are logged', async () => {
    const { stream, operator, logged, delays } = setup({ password: true });
    stream.type('maintenance on\ryes\r');
    await settle();
    expect(stream.take()).to.match(/yes\r\nshell password: $/);
    stream.type('guess1\r');
    await until(() => stream.output.endsWith(PROMPT), 'after wrong password');
    expect(stream.take()).to.equal(`\r\nwrong password; nothing done. Wait 1 s.\r\n${PROMPT}`);
    stream.type('maintenance on\ryes\rguess2\r');
    await until(() => delays.length === 2 && stream.output.endsWith(PROMPT), 'second wrong password');
    expect(delays).to.deep.equal([1000, 2000]);
    expect(operator.mutations()).to.deep.equal([]);
    const failures = logged.filter((l) => l.event === 'shell-auth-failed');
    expect(failures.map((l) => [l.level, l.fields['failures'], l.fields['delayMs']])).to.deep.equal([
      ['warn', 1, 1000],
      ['warn', 2, 2000],
    ]);
    // Typed ahead in one chunk: the password is read in hidden mode all the same.
    stream.take();
    stream.type(`maintenance on\ryes\r${PASSWORD}\r`);
    await until(() => operator.mutations().length === 1 && stream.output.endsWith(PROMPT), 'right password');
    expect(operator.mutations()).to.deep.equal(['maintenance-on']);
    const everything = stream.output + JSON.stringify(logged);
    expect(everything).to.not.contain('correct');
    expect(everything).to.not.contain('guess');
    // A success resets the count: the next failure waits 1 s again.
    stream.type('demote\ryes\rnope\r');
    await until(() => delays.length === 3, 'third failure');
    expect(delays[2]).to.equal(1000);
  });

  for (const [form, stored] of [
    ['as typed (NFC)', 'pässwörd'],
    ['decomposed (NFD)', 'pässwörd'.normalize('NFD')],
  ] as const) {
    it(`a non-ASCII password matches, the file's text ${form}`, async () => {
      const file = join(dir, `utf8-${form.length}.pass`);
      writeFileSync(file, `${stored}\n`, { mode: 0o600 });
      const { stream, operator, delays } = setup({ extra: { passwordFile: file } });
      stream.type('maintenance on\ryes\r');
      stream.type(Buffer.from('pässwörd\r', 'utf8'));
      await until(() => stream.output.endsWith(PROMPT), 'after the password');
      expect(delays, stream.output).to.deep.equal([]);
      expect(operator.mutations()).to.deep.equal(['maintenance-on']);
      expect(stream.output).to.not.contain('pässwörd');
    });
  }

  it('an unreadable password file refuses the command and says so in the log', async () => {
    const { stream, operator, logged } = setup({ extra: { passwordFile: join(dir, 'missing') } });
    stream.type(`fence b\ryes\r${PASSWORD}\r`);
    await until(
      () => stream.output.endsWith(PROMPT) && logged.some((l) => l.event === 'shell-password-unavailable'),
      'refusal',
    );
    expect(stream.output).to.contain('cannot read the shell password file');
    expect(operator.mutations()).to.deep.equal([]);
  });

  it('Ctrl-C while a command runs stops waiting for it; its late answer is not printed', async () => {
    const { stream, operator } = setup();
    let release = (): void => undefined;
    operator.gate = new Promise((resolve) => (release = resolve));
    stream.type('probe 198.18.0.10 5\r');
    await settle();
    stream.type('status\r'); // typed ahead, then dropped by the ^C
    stream.type('\x03');
    expect(stream.take()).to.equal(
      `probe 198.18.0.10 5\r\n^C (no longer waiting; the agent may still finish the command)\r\n${PROMPT}`,
    );
    release();
    await settle();
    expect(stream.take()).to.equal('');
    expect(operator.calls).to.deep.equal(['probe 198.18.0.10 5']);
  });

  it('a disconnect mid-command or mid-confirmation does nothing more and is logged', async () => {
    const { session, stream, operator, logged } = setup();
    let release = (): void => undefined;
    operator.gate = new Promise((resolve) => (release = resolve));
    stream.type('sync now\r');
    await settle();
    session.close();
    release();
    await settle();
    expect(stream.take()).to.equal('sync now\r\n');
    const second = setup();
    second.stream.type('promote\r');
    second.session.close();
    second.stream.type('yes\r');
    await settle();
    expect(second.operator.mutations()).to.deep.equal([]);
    expect(second.logged.map((l) => l.event)).to.deep.equal(['shell-abandoned']);
    expect(logged).to.deep.equal([]);
  });

  it('typed ahead while busy: kept in order up to a bound, then dropped with a message', async () => {
    const { stream, operator } = setup({ extra: { maxPending: 64 } });
    let release = (): void => undefined;
    operator.gate = new Promise((resolve) => (release = resolve));
    stream.type('status\r');
    await settle();
    stream.type('history\r');
    stream.type('x'.repeat(200));
    release();
    // 8 + 200 bytes waited; 64 are kept: history, then 56 x typed on the next line.
    await until(() => stream.output.endsWith(PROMPT + 'x'.repeat(56)), 'history after status');
    expect(stream.output).to.contain('(144 bytes typed ahead were dropped: at most 64 wait while a command runs)');
    expect(stream.output).to.contain('booting -> monitor');
  });

  it('transition lines do not corrupt a half-typed line: prompt and input are printed again', async () => {
    const { session, stream, operator } = setup();
    const line = 'hotspare: a: monitor -> primary (epoch 4): primary silent after fence';
    stream.type('sta');
    stream.take();
    operator.history.push({ atMs: 0, atUs: 2, from: 'monitor', to: 'primary', role: 'primary', epoch: 4, reason: 'x' });
    session.notice(line);
    expect(stream.take()).to.equal(`\r\n${line}\r\nhotspare a primary> sta`);
    stream.type('tus\r');
    await until(() => stream.output.endsWith('hotspare a primary> '), 'status');
    expect(stream.output).to.contain('phase     primary');
    // Nothing typed: the line takes the prompt's place, padded over it.
    stream.take();
    session.notice('hi');
    expect(stream.take()).to.equal(`\r${'hi'.padEnd(20)}\r\nhotspare a primary> `);
    // While a command runs the cursor is at the start of a line: just the line.
    let release = (): void => undefined;
    operator.gate = new Promise((resolve) => (release = resolve));
    stream.type('status\r');
    stream.take();
    session.notice(line);
    expect(stream.take()).to.equal(`${line}\r\n`);
    release();
    await until(() => stream.output.endsWith('hotspare a primary> '), 'status done');
    // At the password prompt, what was typed stays hidden.
    const hidden = setup({ password: true });
    hidden.stream.type('demote\ryes\rsecr');
    hidden.stream.take();
    hidden.session.notice('hi');
    expect(hidden.stream.take()).to.equal(`\r${'hi'.padEnd(16)}\r\nshell password: `);
    // Control characters in the line itself are neutralised.
    hidden.session.notice('evil\x1b[2J\x07');
    expect(hidden.stream.take()).to.contain('evil?[2J?');
  });

  it('exit and Ctrl-D end a socket session; the console cannot hang up', async () => {
    const socket = setup();
    socket.stream.type('exit\r');
    await settle();
    expect(socket.stream.take()).to.equal('exit\r\nbye\r\n');
    expect(socket.stream.ended).to.equal(true);
    expect(socket.session.isClosed).to.equal(true);
    const eof = setup();
    eof.stream.type('\x04');
    expect(eof.stream.take()).to.equal('\r\nbye\r\n');
    expect(eof.stream.ended).to.equal(true);
    const serial = setup({ closable: false });
    serial.stream.type('\x04exit\r');
    await settle();
    expect(serial.stream.take()).to.equal(
      'exit\r\nthis is the console: it has no logout. Leave an ipmitool SOL session with ~. at the start of a line.\r\nhotspare a monitor> ',
    );
    expect(serial.session.isClosed).to.equal(false);
  });

  it('colour only when asked', async () => {
    const { stream } = setup();
    stream.type('color on\r');
    await settle();
    expect(stream.take()).to.equal('color on\r\ncolour on\r\nhotspare a \x1b[36mmonitor\x1b[0m> ');
    stream.type('color off\rnope\r');
    await settle();
    expect(stream.take()).to.not.contain('\x1b');
  });

  it('a fault in the agent interface is an error line, not a crash', async () => {
    const { stream, operator } = setup();
    operator.effectiveConfig = () => {
      throw new Error('config gone');
    };
    stream.type('config\r');
    await until(() => stream.output.endsWith(PROMPT), 'prompt after error');
    expect(stream.output).to.contain('error: config gone\r\n');
  });

  it('works against the real agent executor (simulated drivers)', async () => {
    const cluster = new SimCluster({ nodes: 3, seed: 5 });
    await cluster.bootAll();
    for (let i = 0; i < 200 && !cluster.converged(); i++) await cluster.clock.runFor(50_000);
    const [name, phase] = Object.entries(cluster.phases()).find(([, p]) => p === 'monitor') ?? [];
    const agent = cluster.node(name ?? '').agent;
    if (agent === null || agent === undefined) throw new Error('no monitor agent');
    const stream = new FakeStream(true);
    const session = new ShellSession({
      operator: agent,
      node: name ?? '',
      stream,
      transport: 'socket',
      passwordFile: null,
      log: () => undefined,
    });
    session.start();
    expect(stream.output).to.contain(`hotspare ${name} ${phase}> `);
    stream.type('status\rhistory\r');
    await until(
      () => stream.output.includes('history\r\n') && stream.output.endsWith(`${phase}> `),
      'status and history',
    );
    expect(stream.output).to.contain(`role      monitor\r\n`);
    expect(stream.output).to.contain('-> monitor');
    stream.type('sync now\r');
    await until(() => stream.output.endsWith(`${phase}> `) && stream.output.includes('sync now\r\n'), 'sync now');
    expect(stream.output).to.contain('error: no replicator is configured on this server');
  });

  describe('fuzz (fast-check)', () => {
    it('random bytes and command fragments: never throws, never mutates without the password, never prints it', async () => {
      const token = fc.constantFrom(
        'promote\r',
        'demote\r',
        'fence b\r',
        'maintenance on\r',
        'yes\r',
        'yes\n',
        '\r\n',
        '\x03',
        '\x04',
        '\x7f',
        '\x15',
        'status\r',
        'log 200\r',
      );
      const chunk = fc.oneof(
        token.map((t) => Buffer.from(t, 'latin1')),
        fc.uint8Array({ maxLength: 600 }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(chunk, { maxLength: 30 }), async (chunks) => {
          const { stream, operator, logged } = setup({ password: true });
          for (const c of chunks) {
            stream.type(c);
            if (c.length % 3 === 0) await settle(2);
          }
          await settle();
          expect(operator.mutations()).to.deep.equal([]);
          expect(stream.output + JSON.stringify(logged)).to.not.contain(PASSWORD);
          expect(logged.filter((l) => l.event === 'shell-error')).to.deep.equal([]);
        }),
        { numRuns: 200 },
      );
    });
  });
});
