/**
 * The maintenance shell on the real paths, in the lab (real agents, ipmi_sim BMCs, socat
 * consoles, network namespaces). Needs root, ipmitool, ipmi_sim, socat and script(1):
 *   npx mocha --no-config --timeout 400000 dist/test/lab/shell.test.js
 *
 * - Serial-over-LAN: `ipmitool -I lanplus ... sol activate` against a server's ipmi_sim,
 *   driven through a pty (script -qfec), types `status` and reads the role back.
 * - `hotspare shell` on the control socket: demote (declined, wrong password, then
 *   confirmed) and promote; a SOL session on the taking-over server shows the transition
 *   lines with its half-typed line intact.
 * - Probe send jitter of the monitor without and with busy shell sessions, printed.
 *   HOTSPARE_SHELL_JITTER_S sets each window (default 50 s: the agent's statistics window
 *   is the last 4096 probes, 41 s at 10 ms, more when a loaded machine skips slots).
 *
 * Server names are random per run: ipmi_sim takes a uucp lock /var/lock/LCK..<device name>
 * holding its PID inside its PID namespace (1), which looks alive forever; fixed names
 * would collide with a stale lock of an earlier lab. The locks of this run are removed after.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { converged } from '../../scripts/lab/cluster.js';
import type { Roles } from '../../scripts/lab/cluster.js';
import { startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import type { AgentStatus } from '../../src/agent/index.js';
import { request } from '../../src/control/index.js';
import type { LogLine } from '../../src/log/index.js';
import { Terminal, sleep } from '../fixtures/terminal.js';

const MAIN = resolve('dist/src/cli/main.js');
const PASSWORD = randomBytes(9).toString('base64url');
const WINDOW_S = Number(process.env['HOTSPARE_SHELL_JITTER_S'] ?? '50');
/**
 * Probes every 10 ms as in production, but 10 misses of 50 ms before a takeover: this
 * machine is shared (other labs, compilers), and with 3 misses of 10 ms a scheduling hiccup
 * of the primary fails it over in the middle of a test. Send jitter, the measured quantity,
 * does not depend on the miss rule.
 */
const PROBE = { interval_ms: 10, timeout_ms: 50, misses: 10 };
/** A status screen's end: the uptime line, maybe transition lines, the prompt. */
const STATUS_END = /uptime [^\n]*\r\n(?:hotspare: [^\n]*\r\n)*hotspare \S+ [a-z-]+> $/;

/** A program whose screen we read and whose keyboard we type on; killed by its PID only. */
describe('lab: maintenance shell over IPMI SOL and the control socket', function () {
  this.timeout(Math.max(300_000, WINDOW_S * 2 * 1000 + 120_000));
  const prefix = Array.from(randomBytes(2), (b) => String.fromCharCode(97 + (b % 26))).join('');
  const names = ['a', 'b', 'c'].map((n) => `${prefix}${n}`);
  let lab: Lab | null = null;
  let dir = '';
  const terminals: Terminal[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-shell-lab-'));
    const passwordFile = join(dir, 'shell.pass');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    lab = await startLab({
      servers: names,
      observer: false,
      config: { probe: PROBE, shell: { password_file: passwordFile } },
    });
    await converged(lab, 30_000);
  });

  afterEach(async function () {
    for (const terminal of terminals.splice(0)) await terminal.stop();
    if (this.currentTest?.state === 'failed' && lab !== null) {
      for (const name of lab.serverNames()) {
        const log = await request(socketOf(name), 'log', ['15']).catch(() => []);
        console.log(`    ${name}:${(log as LogLine[]).map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
    }
  });

  after(async () => {
    for (const terminal of terminals.splice(0)) await terminal.stop();
    await lab?.stop();
    for (const name of names) rmSync(`/var/lock/LCK..tty-${name}-bmc`, { force: true });
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  function current(): Lab {
    if (lab === null) throw new Error('lab not started');
    return lab;
  }

  function socketOf(name: string): string {
    return current().get(name).paths.controlSocket;
  }

  async function status(name: string): Promise<AgentStatus> {
    return (await request(socketOf(name), 'status')) as AgentStatus;
  }

  function ipmitool(target: string, from: string): string[] {
    const l = current();
    const o = l.bmcOptions(target);
    return [
      ...l.ipmitoolCommand(from),
      '-I',
      'lanplus',
      '-C',
      '3',
      '-H',
      o.host,
      '-p',
      String(o.port),
      '-U',
      o.username,
      '-f',
      o.passwordFile,
    ];
  }

  /**
   * `ipmitool sol activate` on `target`'s BMC, from `from`'s namespace, in a pty. A SOL
   * session left active by an earlier failure is deactivated first.
   */
  async function sol(target: string, from = target): Promise<Terminal> {
    await new Promise<void>((done) => {
      const [program = '', ...args] = [...ipmitool(target, from), 'sol', 'deactivate'];
      const child = spawn(program, args, { stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('close', () => {
        clearTimeout(timer);
        done();
      });
    });
    const terminal = new Terminal([...ipmitool(target, from), 'sol', 'activate'], { pty: true });
    terminals.push(terminal);
    return terminal;
  }

  /** `hotspare shell --socket ...`, stdin a pipe (line mode). */
  function shell(target: string): Terminal {
    const terminal = new Terminal([process.execPath, MAIN, 'shell', '--socket', socketOf(target)], { pty: false });
    terminals.push(terminal);
    return terminal;
  }

  async function solPrompt(terminal: Terminal, node: string): Promise<void> {
    await terminal.expect(/SOL Session operational/, 0, 'SOL session');
    const from = terminal.mark();
    terminal.type('\r');
    await terminal.expect(new RegExp(`hotspare ${node} [a-z-]+> $`), from, 'console prompt over SOL');
  }

  async function endSol(terminal: Terminal): Promise<void> {
    terminal.type('\r~.');
    const code = await Promise.race([terminal.exited, sleep(5000).then(() => 'timeout' as const)]);
    expect(code, 'ipmitool ends on ~.').to.equal(0);
  }

  it('SOL: ipmitool sol activate reaches the console shell; status reads the role back', async () => {
    const roles: Roles = await converged(current());
    for (const node of [roles.monitor, roles.primary]) {
      const terminal = await sol(node);
      await solPrompt(terminal, node);
      const from = terminal.mark();
      terminal.type('status\r');
      const screen = await terminal.expect(STATUS_END, from, `status of ${node} over SOL`);
      const role = /^role\s+(\S+)\r$/m.exec(screen)?.[1];
      const epoch = /^epoch\s+(\d+)\r$/m.exec(screen)?.[1];
      // The agent's own answer on the control socket, right after: the same role and epoch
      // (unless a transition came in between, which the console would have printed).
      const truth = await status(node);
      if (!/^hotspare: /m.test(screen)) {
        expect(role).to.equal(truth.role);
        expect(Number(epoch)).to.equal(truth.epoch);
      }
      expect(role).to.be.oneOf(['primary', 'monitor', 'spare']);
      // A line of garbage and an unknown command over SOL: answered, the shell goes on.
      const more = terminal.mark();
      terminal.type('\x01\x02\x1b[Afrobx\x7fnicate\r');
      await terminal.expect(
        /error: unknown command "frobnicate"; type help for the list\r\nhotspare/,
        more,
        'unknown command over SOL',
      );
      await endSol(terminal);
    }
  });

  it('hotspare shell: demote with confirmation and password, then promote; the console shows the transitions around a half-typed line', async () => {
    const l = current();
    const before = await converged(l);
    const primary = before.primary;
    const monitor = before.monitor;

    // The monitor's console over SOL, with a half-typed line when the transitions come.
    const console_ = await sol(monitor);
    await solPrompt(console_, monitor);
    const consoleFrom = console_.mark();
    console_.type('sta');
    await console_.expect(/sta$/, consoleFrom, 'echo of sta');

    const term = shell(primary);
    await term.expect(new RegExp(`hotspare ${primary} primary> $`), 0, 'shell prompt');
    let from = term.mark();
    term.type('demote\r');
    await term.expect(/type yes to go on, anything else cancels: $/, from, 'confirmation question');
    term.type('no\r');
    await term.expect(/not confirmed; nothing done\r\nhotspare \S+ primary> $/, from, 'declined');
    expect((await status(primary)).phase).to.equal('primary');

    from = term.mark();
    term.type('demote\ryes\r');
    await term.expect(/shell password: $/, from, 'password prompt');
    term.type('not-the-password\r');
    await term.expect(/wrong password; nothing done\. Wait 1 s\.\r\n/, from, 'wrong password');
    await term.expect(/primary> $/, from, 'prompt after the penalty', 5000);
    expect((await status(primary)).phase).to.equal('primary');
    const logged = (await request(socketOf(primary), 'log', ['200'])) as LogLine[];
    const failure = logged.find((line) => line.event === 'shell-auth-failed');
    expect(failure?.fields).to.deep.include({ transport: 'socket', command: 'demote', failures: 1, delayMs: 1000 });
    expect(JSON.stringify(logged)).to.not.contain('not-the-password');

    from = term.mark();
    term.type(`demote\ryes\r${PASSWORD}\r`);
    await term.expect(/accepted: demote accepted \(primary -> spare\)/, from, 'demote accepted');
    expect(term.screen).to.not.contain(PASSWORD);
    // The monitor fences the demoted server (its agent dies with the power: the session
    // ends) and takes over.
    // (The phase changes when the role machine decides; the address follows when the
    // executor has persisted and claimed: wait for both.)
    await l.waitFor(
      async () => {
        const s = await status(monitor).catch(() => null);
        return s?.phase === 'primary' && s.held.includes('198.18.0.10/24') ? s : null;
      },
      20_000,
      `${monitor} primary, holding the primary address`,
    );
    await Promise.race([term.exited, sleep(10_000)]);
    term.endInput();

    // On the new primary's console: each transition on its own line, then the prompt with
    // the half-typed "sta" again; finishing the line works.
    const screen = await console_.expect(
      new RegExp(
        `hotspare: ${monitor}: [a-z-]+ -> primary \\(epoch \\d+\\): [^\\r]*\\r\\nhotspare ${monitor} primary> sta$`,
      ),
      consoleFrom,
      'transition line on the console',
    );
    expect(screen).to.match(new RegExp(`hotspare: ${monitor}: monitor -> confirming`));
    const typed = console_.mark();
    console_.type('tus\r');
    const out = await console_.expect(STATUS_END, typed, 'status after the transition');
    expect(out).to.match(/^role\s+primary\r$/m);
    await endSol(console_);

    // Promote the new monitor (the old primary comes back as monitor or the spare moves up).
    const settled = await converged(l, 40_000);
    expect(settled.primary).to.equal(monitor);
    const next = settled.monitor;
    const promote = shell(next);
    await promote.expect(new RegExp(`hotspare ${next} monitor> $`), 0, 'prompt of the new monitor');
    from = promote.mark();
    promote.type(`promote\ryes\r${PASSWORD}\r`);
    await promote.expect(/accepted: promote accepted/, from, 'promote accepted');
    await l.waitFor(
      async () => {
        const s = await status(next).catch(() => null);
        return s?.phase === 'primary' && s.held.includes('198.18.0.10/24') ? true : null;
      },
      20_000,
      `${next} primary after promote`,
    );
    // The history entry is written when the executor reaches the transition action (after
    // persisting, claiming and announcing): wait for it on the control socket first.
    await l.waitFor(
      async () =>
        ((await request(socketOf(next), 'history').catch(() => [])) as Array<{ to: string }>).at(-1)?.to === 'primary',
      10_000,
      `${next}: transition to primary in its history`,
    );
    promote.type('history\r');
    await promote.expect(
      /monitor -> confirming[^\r]*\r\n[^\r]*confirming -> primary/,
      from,
      'history shows the takeover',
    );
    promote.endInput();
    expect(await promote.exited).to.equal(0);
    await converged(l, 40_000);
  });

  it(`probing does not stall while shell sessions are busy (jitter over ${WINDOW_S} s without and ${WINDOW_S} s with)`, async () => {
    const l = current();

    interface Window {
      node: string;
      before: AgentStatus;
      after: AgentStatus;
      socketCommands: number;
      solCommands: number;
      /** CPU the monitor's agent used, and the whole machine was busy, in % of one core. */
      agentCpu: number;
      machineCpu: number;
    }

    /** One window on the monitor; it counts only if the monitor stayed monitor (same epoch) throughout. */
    async function measure(busy: boolean): Promise<Window> {
      for (let attempt = 1; ; attempt += 1) {
        const { monitor } = await converged(l, 40_000);
        let socketCommands = 0;
        let solCommands = 0;
        // The SOL session is set up before the window opens.
        const console_ = busy ? await sol(monitor) : null;
        if (console_ !== null) await solPrompt(console_, monitor);
        const before = await status(monitor).catch(() => null);
        const pid = l.agentPid(monitor);
        const cpuBefore = { agent: pid === null ? 0 : processTicks(pid), machine: machineTicks(), at: Date.now() };
        const deadline = Date.now() + WINDOW_S * 1000;
        if (console_ === null) {
          await sleep(WINDOW_S * 1000);
        } else {
          // A control-socket session that sends the next command the moment the prompt is
          // back (status and log 200 in turn), and a SOL session doing status in a loop.
          const socketRun = spamSocket(socketOf(monitor), deadline);
          while (Date.now() < deadline) {
            const from = console_.mark();
            console_.type('status\r');
            await console_.expect(STATUS_END, from, 'status over SOL', 20_000);
            solCommands += 1;
          }
          socketCommands = await socketRun;
        }
        const after = await status(monitor).catch(() => null);
        const seconds = (Date.now() - cpuBefore.at) / 1000;
        const agentCpu = pid === null ? NaN : ((processTicks(pid) - cpuBefore.agent) / TICKS_PER_S / seconds) * 100;
        const machineCpu = ((machineTicks() - cpuBefore.machine) / TICKS_PER_S / seconds) * 100;
        if (console_ !== null) await endSol(console_);
        if (before?.phase === 'monitor' && after?.phase === 'monitor' && after.epoch === before.epoch)
          return { node: monitor, before, after, socketCommands, solCommands, agentCpu, machineCpu };
        console.log(
          `      ${busy ? 'busy' : 'idle'} window ${attempt}: ${monitor} went ${before?.phase ?? 'unreachable'} -> ${after?.phase ?? 'unreachable'} (epoch ${before?.epoch ?? '?'} -> ${after?.epoch ?? '?'}); measuring again`,
        );
        if (attempt === 3) throw new Error('the monitor changed role in three windows in a row');
      }
    }

    const idle = await measure(false);
    const busy = await measure(true);
    const row = (name: string, w: Window): string => {
      const j = w.after.probeJitterUs;
      return `${name} (${w.node}): probe send jitter us median ${j.median} p99 ${j.p99} max ${j.max} over the last ${j.window} probes (${j.count - w.before.probeJitterUs.count} sent in the window); misses ${w.after.probes.misses - w.before.probes.misses}; rtt us median ${w.after.rttUs.median} p99 ${w.after.rttUs.p99}; agent CPU ${w.agentCpu.toFixed(1)} %, machine busy ${w.machineCpu.toFixed(0)} % of one core (of 200)`;
    };
    console.log(`      ${row('idle', idle)}`);
    console.log(`      ${row('busy', busy)}`);
    console.log(
      `      busy sessions: ${busy.socketCommands} commands on the control socket (status / log 200 in turn), ${busy.solCommands} status over SOL`,
    );

    // The statistics cover a window alone only if the window saw at least their 4096 probes.
    for (const w of [idle, busy])
      expect(w.after.probeJitterUs.count - w.before.probeJitterUs.count).to.be.at.least(w.after.probeJitterUs.window);
    expect(busy.socketCommands).to.be.above(100);
    expect(busy.solCommands).to.be.above(5);
    // The jitter figures above are measurements for the closing note, not assertions: timing
    // targets belong to the benchmarks (a shared 2-core machine makes thresholds flaky). What
    // is asserted is that probing went on through the busy window (the count check above) and
    // that the monitor kept its role (measure() retries, then fails, if it changed).
  });
});

/** Clock ticks a second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

/** utime + stime of a process (fields 14 and 15 of /proc/PID/stat), in ticks; 0 if gone. */
function processTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Ticks all CPUs spent not idle (first line of /proc/stat, without idle and iowait). */
function machineTicks(): number {
  const [, ...values] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const n = values.map(Number);
  return n.reduce((a, b) => a + b, 0) - (n[3] ?? 0) - (n[4] ?? 0);
}

/** A control-socket shell that types the next command the moment the prompt is back. */
function spamSocket(path: string, deadline: number): Promise<number> {
  return new Promise((done) => {
    const socket = createConnection(path);
    const commands = ['status\r', 'log 200\r'];
    let screen = '';
    let sent = 0;
    let finished = false;
    socket.on('connect', () => socket.write('{"command":"shell"}\n'));
    socket.on('data', (chunk: Buffer) => {
      screen += chunk.toString('latin1');
      if (finished || !screen.endsWith('> ')) return;
      screen = '';
      if (Date.now() >= deadline) {
        finished = true;
        socket.end('exit\r');
        return;
      }
      socket.write(commands[sent % 2] ?? 'status\r');
      sent += 1;
    });
    // An agent that goes away ends the run; the window is then found invalid and repeated.
    socket.on('close', () => done(sent));
    socket.on('error', () => done(sent));
  });
}
