/**
 * The Linux lease enforcers for real, the compiled one (hal/lease/hotspare-enforcer.c) and
 * the Node one, over the same cases: a separate process in a namespace removes the address
 * at the deadline it was given, also after its agent went away (stdin closed), and leaves
 * it alone once disarmed. Needs root.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadTimerBinding } from '../../../hal/clock/native/binding.js';
import { ChannelEnforcer, LinuxLeaseEnforcer, NATIVE_ENFORCER, NODE_ENFORCER } from '../../../hal/lease/linux.js';
import { describeIfAvailable, itIfAvailable } from '../../fixtures/prerequisites.js';
import { createVethLan, deleteNamespaces, ipIn, netnsUnavailable } from './fixtures/netns.js';
import type { VethLan } from './fixtures/netns.js';
import { stopChild } from '../../fixtures/processes.js';

const ENFORCERS: Array<{ name: string; argv: string[]; missing: string | null }> = [
  {
    name: 'compiled',
    argv: [NATIVE_ENFORCER],
    missing: existsSync(NATIVE_ENFORCER) ? null : `${NATIVE_ENFORCER} is not built (make build)`,
  },
  { name: 'Node', argv: [process.execPath, NODE_ENFORCER], missing: null },
];
const ADDRESS = '198.18.205.10/24';
/** How long the spinner of the held-CPU test keeps CPU 0 (from before the deadline to after it). */
const SPIN_US = 600_000;

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Polls `condition` (which may read the kernel) every 5 ms until it holds. */
async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = 'the condition',
): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs a command to its end; rejects on a failure, with its stderr. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')}: ${code}: ${err}`)),
    );
  });
}

async function holds(ns: string, iface: string): Promise<boolean> {
  return (await ipIn(ns, ['-4', '-o', 'addr', 'show', 'dev', iface])).includes(ADDRESS);
}

for (const variant of ENFORCERS)
  describeIfAvailable(
    `Linux lease enforcer, ${variant.name} (namespace)`,
    variant.missing ?? netnsUnavailable(),
    function () {
      this.timeout(30_000);
      let lan: VethLan | null = null;
      const children: ChildProcessWithoutNullStreams[] = [];

      function enforcer(l: VethLan): { child: ChildProcessWithoutNullStreams; out: () => string } {
        const child = spawn('ip', ['netns', 'exec', l.a, ...variant.argv, l.ifA, ADDRESS], { stdio: 'pipe' });
        children.push(child);
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
        return { child, out: () => out };
      }

      /** An enforcer in namespace a that has read its input (a line it ignores, answered on stderr). */
      async function reading(l: VethLan): Promise<{ e: ReturnType<typeof enforcer>; err: () => string; pid: number }> {
        const e = enforcer(l);
        let err = '';
        e.child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
        e.child.stdin.write('ready?\n');
        await waitFor(() => err.includes('ignoring'), 5000, 'the enforcer reading its input');
        return { e, err: () => err, pid: e.child.pid ?? 0 };
      }

      /** The agent's driver, its enforcer in namespace a; what it reports through onError. */
      function driverIn(l: VethLan): { driver: LinuxLeaseEnforcer; errors: string[] } {
        const errors: string[] = [];
        // `ip netns exec` execs the enforcer in place: the driver's child is the enforcer.
        const command = ['ip', 'netns', 'exec', l.a, ...variant.argv, l.ifA, ADDRESS];
        return { driver: new LinuxLeaseEnforcer(l.ifA, ADDRESS, (m) => errors.push(m), command), errors };
      }

      before(async () => {
        lan = await createVethLan(205);
      });
      after(async () => {
        for (const c of children) await stopChild(c);
        if (lan !== null) await deleteNamespaces([lan.a, lan.b]);
      });

      it('removes the address at the deadline, not before, and says how late', async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const e = enforcer(l);
        const deadline = nowUs() + 300_000;
        e.child.stdin.write(`hold ${deadline}\n`);
        // Moved later once: the first deadline must not fire.
        e.child.stdin.write(`hold ${deadline + 200_000}\n`);
        await waitFor(() => nowUs() > deadline + 50_000, 5000);
        expect(await holds(l.a, l.ifA)).to.equal(true);
        await waitFor(() => /expired \d+/.test(e.out()), 5000);
        expect(await holds(l.a, l.ifA)).to.equal(false);
        const late = Number(/expired (\d+)/.exec(e.out())?.[1]);
        expect(late).to.be.at.least(0);
        expect(e.out(), 'the deadline it enforced').to.match(new RegExp(`^expired \\d+ ${deadline + 200_000}$`, 'm'));
        e.child.stdin.end();
      });

      it('fires the armed deadline after its agent closed the pipe, then exits', async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const e = enforcer(l);
        e.child.stdin.write(`hold ${nowUs() + 200_000}\n`);
        e.child.stdin.end();
        const exited = new Promise<number | null>((resolve) => e.child.on('exit', (code) => resolve(code)));
        await waitFor(async () => !(await holds(l.a, l.ifA)), 5000);
        expect(await exited).to.equal(0);
      });

      it('asked to end (SIGTERM) while armed: removes the address at once, long before the deadline', async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const e = enforcer(l);
        let err = '';
        e.child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
        const deadline = nowUs() + 20_000_000;
        // A line it ignores, after the hold: its complaint proves the hold was read.
        e.child.stdin.write(`hold ${deadline}
ready?
`);
        await waitFor(() => err.includes('ignoring'), 5000, 'the enforcer reading its input');
        const exited = new Promise<number | null>((resolve) => e.child.on('exit', (code) => resolve(code)));
        e.child.kill('SIGTERM');
        expect(await exited).to.equal(0);
        expect(await holds(l.a, l.ifA)).to.equal(false);
        expect(nowUs()).to.be.below(deadline);
      });

      if (variant.name === 'compiled')
        it('runs at SCHED_FIFO with its memory locked (as root)', async () => {
          const { e, err, pid } = await reading(lan as VethLan);
          // /proc/PID/stat field 41 is the scheduling policy (1: SCHED_FIFO), after the ")" of the name.
          const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
          expect(Number(fields[38]), `policy of ${pid}; stderr: ${err()}`).to.equal(1);
          const locked = /VmLck:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
          expect(Number(locked?.[1]), `stderr: ${err()}`).to.be.above(0);
          e.child.stdin.end();
        });

      if (variant.name === 'compiled')
        itIfAvailable(
          'fires on time while the CPU of its main thread is held (a watcher thread on another CPU deletes the address)',
          availableParallelism() >= 2 ? null : 'two CPUs',
          async () => {
            const l = lan as VethLan;
            await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
            const { e, err, pid } = await reading(l);
            expect(readdirSync(`/proc/${pid}/task`).length, 'a watcher per CPU besides the main thread').to.equal(
              1 + availableParallelism(),
            );
            // The main thread alone pinned to CPU 0, where a higher SCHED_FIFO spinner then keeps
            // it from running across the deadline: only a watcher on another CPU can be on time.
            // The hold is read first (the line after it answered), as the main thread reads input.
            await run('taskset', ['-p', '-c', '0', String(pid)]);
            const deadline = nowUs() + 300_000;
            e.child.stdin.write(`hold ${deadline}\nread?\n`);
            await waitFor(() => err().includes('"read?"'), 5000, 'the enforcer reading the hold');
            // The spinner ends by itself (bash's own clock, no helper process: a helper on CPU 0
            // would wait behind it), about 300 ms after the deadline.
            const spinner = spawn(
              'chrt',
              [
                '-f',
                '50',
                'taskset',
                '-c',
                '0',
                'bash',
                '-c',
                `end=$((\${EPOCHREALTIME/./}+${SPIN_US})); while (( \${EPOCHREALTIME/./} < end )); do :; done`,
              ],
              { stdio: 'ignore' },
            );
            const spinning = new Promise<void>((resolve) => spinner.on('exit', () => resolve()));
            await waitFor(
              () => readFileSync(`/proc/${spinner.pid ?? 0}/cmdline`, 'utf8').startsWith('bash'),
              5000,
              'the spinner',
            );
            expect(nowUs(), 'the spinner holds CPU 0 before the deadline').to.be.below(deadline);
            await waitFor(() => /expired \d+/.test(e.out()), 5000, 'the deadline to fire');
            const late = Number(/expired (\d+)/.exec(e.out())?.[1]);
            await spinning;
            expect(late, 'µs late').to.be.below(100_000);
            expect(await holds(l.a, l.ifA)).to.equal(false);
            e.child.stdin.end();
          },
        );

      it('the driver: an enforcer killed while armed (SIGKILL) is started again with the deadline, which still fires', async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const { driver, errors } = driverIn(l);
        const first = driver.pid ?? 0;
        let second = 0;
        try {
          const deadline = nowUs() + 1_500_000;
          driver.hold(deadline);
          // Killed once it runs as the enforcer (after the exec), as an operator or the OOM killer would.
          await waitFor(() => !readFileSync(`/proc/${first}/cmdline`, 'utf8').startsWith('ip\0'), 5000, 'the exec');
          process.kill(first, 'SIGKILL');
          await waitFor(() => (driver.pid ?? first) !== first, 5000, 'a new enforcer');
          second = driver.pid ?? 0;
          expect(errors.join('\n')).to.match(
            /lease enforcer exited \(SIGKILL\) while in use: starting it again, with its last command \(hold\)/,
          );
          await waitFor(async () => !(await holds(l.a, l.ifA)), 10_000, 'the address removed by the new enforcer');
          expect(nowUs(), 'not before the deadline').to.be.at.least(deadline);
        } finally {
          driver.close();
          // Without a deadline left the new enforcer exits on the end of its input.
          await waitFor(() => second === 0 || !existsSync(`/proc/${second}`), 5000, 'the second enforcer to exit');
          await ipIn(l.a, ['addr', 'del', ADDRESS, 'dev', l.ifA]).catch(() => undefined);
        }
      });

      it('the driver: an enforcer that dies again at once is started again only after a pause', async () => {
        const l = lan as VethLan;
        const { driver, errors } = driverIn(l);
        const pids = [driver.pid ?? 0];
        try {
          driver.disarm();
          for (let kill = 0; kill < 2; kill += 1) {
            const pid = pids[pids.length - 1] ?? 0;
            await waitFor(() => !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('ip\0'), 5000, 'the exec');
            process.kill(pid, 'SIGKILL');
            await waitFor(() => (driver.pid ?? pid) !== pid, 5000, 'a new enforcer');
            pids.push(driver.pid ?? 0);
          }
          expect(errors[0]).to.match(/starting it again, with its last command \(disarm\)$/);
          expect(errors[1]).to.match(/starting it again in \d+ ms, with its last command \(disarm\)$/);
          expect(Number(/in (\d+) ms/.exec(errors[1] ?? '')?.[1])).to.be.within(1, 1000);
        } finally {
          driver.close();
          const last = pids[pids.length - 1] ?? 0;
          await waitFor(() => !existsSync(`/proc/${last}`), 5000, 'the last enforcer to exit');
        }
      });

      it("two writers' slots: the later deadline is enforced, and a slot disarmed leaves the other's", async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const e = enforcer(l);
        const first = nowUs() + 200_000;
        // Slot 0 (the form without a slot) and slot 1, the later: slot 0's must not fire.
        e.child.stdin.write(`hold ${first}\nhold 1 ${first + 250_000}\n`);
        await waitFor(() => nowUs() > first + 100_000, 5000);
        expect(await holds(l.a, l.ifA), "slot 0's deadline passed").to.equal(true);
        await waitFor(() => /expired \d+/.test(e.out()), 5000);
        expect(e.out()).to.match(new RegExp(`^expired \\d+ ${first + 250_000}$`, 'm'));
        // Slot 1 armed far ahead and then disarmed: slot 0's deadline fires.
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const second = nowUs() + 150_000;
        e.child.stdin.write(`hold 1 ${second + 10_000_000}\nhold 0 ${second}\ndisarm 1\n`);
        await waitFor(() => new RegExp(`^expired \\d+ ${second}$`, 'm').test(e.out()), 5000, "slot 0's deadline");
        expect(await holds(l.a, l.ifA)).to.equal(false);
        e.child.stdin.end();
      });

      it("the driver on a channel: the twin's later deadline holds, and survives the enforcer's restart", async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const binding = loadTimerBinding();
        const channel = { binding, id: binding.channelOpen() };
        const errors: string[] = [];
        const command = ['ip', 'netns', 'exec', l.a, ...variant.argv, l.ifA, ADDRESS];
        const driver = new LinuxLeaseEnforcer(l.ifA, ADDRESS, (m) => errors.push(m), command, channel);
        const twin = new ChannelEnforcer(channel, (m) => errors.push(m));
        const first = driver.pid ?? 0;
        let second = 0;
        try {
          const deadline = nowUs() + 1_000_000;
          driver.hold(deadline);
          twin.hold(deadline + 500_000);
          await waitFor(() => !readFileSync(`/proc/${first}/cmdline`, 'utf8').startsWith('ip\0'), 5000, 'the exec');
          process.kill(first, 'SIGKILL');
          await waitFor(() => (driver.pid ?? first) !== first, 5000, 'a new enforcer');
          second = driver.pid ?? 0;
          // The new enforcer read both slots' last commands from its new pipe.
          await waitFor(() => nowUs() > deadline + 200_000, 5000);
          expect(await holds(l.a, l.ifA), "slot 0's deadline passed").to.equal(true);
          await waitFor(async () => !(await holds(l.a, l.ifA)), 10_000, "the address removed at the twin's deadline");
          expect(nowUs(), "not before the twin's deadline").to.be.at.least(deadline + 500_000);
          expect(errors.join('\n')).to.match(/lease enforcer exited \(SIGKILL\) while in use/);
        } finally {
          driver.close();
          twin.close();
          await waitFor(() => second === 0 || !existsSync(`/proc/${second}`), 5000, 'the second enforcer to exit');
          await ipIn(l.a, ['addr', 'del', ADDRESS, 'dev', l.ifA]).catch(() => undefined);
        }
        // Closed: a write through the channel is refused, not sent anywhere else.
        expect(() => binding.channelSend(channel.id, 1, 'disarm 1')).to.throw(/not an open channel/);
      });

      it("a twin's deadline sent before the enforcer is started is kept, not an error, and enforced by it", async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const binding = loadTimerBinding();
        const channel = { binding, id: binding.channelOpen() };
        const errors: string[] = [];
        // Twin 1 is granted first, while twin 0 (which starts the enforcer) is still starting.
        const twin = new ChannelEnforcer(channel, (m) => errors.push(m));
        const deadline = nowUs() + 600_000;
        twin.hold(deadline);
        expect(binding.channelSend(channel.id, 1, `hold 1 ${deadline}`), 'no enforcer yet').to.equal(false);
        const command = ['ip', 'netns', 'exec', l.a, ...variant.argv, l.ifA, ADDRESS];
        const driver = new LinuxLeaseEnforcer(l.ifA, ADDRESS, (m) => errors.push(m), command, channel);
        const expired: Array<number | null> = [];
        driver.onExpired((_lateUs, deadlineUs) => expired.push(deadlineUs));
        const pid = driver.pid ?? 0;
        try {
          await waitFor(() => expired.length > 0, 10_000, "the enforcer's report");
          expect(expired, "the twin's deadline, read from the new pipe").to.deep.equal([deadline]);
          expect(await holds(l.a, l.ifA)).to.equal(false);
          expect(errors, 'nothing reported').to.deep.equal([]);
        } finally {
          driver.close();
          twin.close();
          await waitFor(() => pid === 0 || !existsSync(`/proc/${pid}`), 5000, 'the enforcer to exit');
          await ipIn(l.a, ['addr', 'del', ADDRESS, 'dev', l.ifA]).catch(() => undefined);
        }
      });

      it('leaves the address alone once disarmed', async () => {
        const l = lan as VethLan;
        await ipIn(l.a, ['addr', 'add', ADDRESS, 'dev', l.ifA]);
        const e = enforcer(l);
        const deadline = nowUs() + 150_000;
        e.child.stdin.write(`hold ${deadline}\ndisarm\n`);
        await waitFor(() => nowUs() > deadline + 200_000, 5000);
        expect(await holds(l.a, l.ifA)).to.equal(true);
        e.child.stdin.end();
        await ipIn(l.a, ['addr', 'del', ADDRESS, 'dev', l.ifA]);
      });
    },
  );
