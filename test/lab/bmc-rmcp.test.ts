/**
 * hal/bmc/rmcp.ts (in-process RMCP+ with a kept session) against real ipmi_sim BMCs in the lab.
 * Needs root:  npx mocha --no-config --timeout 120000 dist/test/lab/bmc-rmcp.test.js
 *
 * The BMCs are reachable only from the servers' namespaces, and Node cannot enter a namespace,
 * so the drivers run in a child (`ip netns exec NS node THIS_FILE --rmcp-child`) that this file
 * also is: it takes one JSON request per stdin line and answers one JSON line on stdout.
 * Prints the measured latencies.
 */
import { expect } from 'chai';
import { writeFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RmcpBmc } from '../../hal/bmc/rmcp.js';
import type { RmcpBmcOptions, SessionStats } from '../../hal/bmc/rmcp.js';
import { isBmcError } from '../../hal/errors/bmc-error.js';
import type { ManagedProcess } from '../../scripts/lab/children.js';
import { startIpmiSim } from '../../scripts/lab/bmc-sim.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';

const THIS_FILE = fileURLToPath(import.meta.url);

type Op = 'create' | 'status' | 'on' | 'off' | 'cycle' | 'warm' | 'close' | 'stats';
interface ChildRequest {
  id: number;
  op: Op;
  name: string;
  options?: RmcpBmcOptions;
}
type ChildAnswer =
  | { id: number; ok: true; value: unknown; ms: number }
  | { id: number; ok: false; kind: string | null; message: string; ms: number };

// ---- child side ----------------------------------------------------------------------------

async function serveChild(): Promise<void> {
  const bmcs = new Map<string, RmcpBmc>();
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const request = JSON.parse(line) as ChildRequest;
    const started = process.hrtime.bigint();
    const ms = (): number => Number(process.hrtime.bigint() - started) / 1e6;
    const answer = (value: ChildAnswer): void => {
      process.stdout.write(`${JSON.stringify(value)}\n`);
    };
    try {
      let value: unknown = null;
      if (request.op === 'create') {
        await bmcs.get(request.name)?.close();
        bmcs.set(request.name, new RmcpBmc(request.options as RmcpBmcOptions));
      } else {
        const bmc = bmcs.get(request.name);
        if (bmc === undefined) throw new Error(`no bmc ${request.name}`);
        value = request.op === 'stats' ? { ...bmc.stats, warm: bmc.warmNow } : await bmc[request.op]();
      }
      answer({ id: request.id, ok: true, value: value ?? null, ms: ms() });
    } catch (error) {
      answer({
        id: request.id,
        ok: false,
        kind: isBmcError(error) ? error.kind : null,
        message: error instanceof Error ? error.message : String(error),
        ms: ms(),
      });
    }
  }
  await Promise.all([...bmcs.values()].map((bmc) => bmc.close()));
}

if (process.argv[1] === THIS_FILE && process.argv[2] === '--rmcp-child') {
  void serveChild();
} else {
  labTests();
}

// ---- harness side --------------------------------------------------------------------------

/** The child in one server's namespace, and a Bmc-like handle per driver it holds. */
class Child {
  private nextId = 1;
  private readonly pending = new Map<number, (answer: ChildAnswer) => void>();

  constructor(readonly process: ManagedProcess) {
    const stdout = process.child.stdout;
    if (stdout === null) throw new Error('child without stdout');
    createInterface({ input: stdout }).on('line', (line) => {
      const answer = JSON.parse(line) as ChildAnswer;
      this.pending.get(answer.id)?.(answer);
      this.pending.delete(answer.id);
    });
  }

  ask(op: Op, name: string, options?: RmcpBmcOptions): Promise<ChildAnswer> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.process.child.stdin?.write(
        `${JSON.stringify({ id, op, name, ...(options === undefined ? {} : { options }) })}\n`,
      );
    });
  }

  async value(op: Op, name: string): Promise<unknown> {
    const answer = await this.ask(op, name);
    if (!answer.ok) throw new Error(`${op} ${name}: ${answer.kind ?? 'error'}: ${answer.message}`);
    return answer.value;
  }

  async stats(name: string): Promise<SessionStats & { warm: boolean }> {
    return (await this.value('stats', name)) as SessionStats & { warm: boolean };
  }
}

function summary(samples: readonly number[]): { n: number; medianMs: number; p95Ms: number; maxMs: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number =>
    Math.round((sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN) * 100) / 100;
  return { n: sorted.length, medianMs: at(0.5), p95Ms: at(0.95), maxMs: at(1) };
}

function labTests(): void {
  describe('RmcpBmc against ipmi_sim in the lab', function () {
    this.timeout(180_000);
    let lab: Lab | null = null;
    let child: Child | null = null;

    before(async () => {
      lab = await startLab({ servers: 3, agentCommand: placeholderAgent, observer: false });
      const process_ = lab.group.spawn({
        name: 'rmcp-child',
        netns: lab.netnsOf('b'),
        argv: [process.execPath, THIS_FILE, '--rmcp-child'],
        stdin: true,
      });
      process_.child.stderr?.on('data', (chunk: Buffer) =>
        console.log(`      child: ${chunk.toString('utf8').trim()}`),
      );
      child = new Child(process_);
    });

    after(async () => {
      child?.process.child.stdin?.end();
      await child?.process.stop(2000);
      await lab?.stop();
    });

    function l(): Lab {
      if (lab === null) throw new Error('lab not started');
      return lab;
    }
    function c(): Child {
      if (child === null) throw new Error('child not started');
      return child;
    }
    async function create(name: string, target: string, change: Partial<RmcpBmcOptions> = {}): Promise<void> {
      const { interface: _ignored, ...options } = l().bmcOptions(target);
      const answer = await c().ask('create', name, { ...options, ...change });
      expect(answer.ok, JSON.stringify(answer)).to.equal(true);
    }

    it('status, off, on in one session: acknowledged, and the power really changes', async () => {
      await create('a', 'a');
      expect(await c().value('status', 'a')).to.equal('on');
      await c().value('off', 'a');
      expect(l().isPowered('a')).to.equal(false);
      expect(await c().value('status', 'a')).to.equal('off');
      await c().value('on', 'a');
      expect(l().isPowered('a')).to.equal(true);
      expect(await c().value('status', 'a')).to.equal('on');
      expect((await c().stats('a')).opens).to.equal(1);
    });

    it('cycle is acknowledged once the power is off; ipmi_sim powers on again afterwards', async () => {
      await create('c', 'c');
      const before = l().powerLog.length;
      const answer = await c().ask('cycle', 'c');
      expect(answer.ok, JSON.stringify(answer)).to.equal(true);
      const off = l()
        .powerLog.slice(before)
        .find((p) => p.server === 'c' && !p.on && p.source === 'bmc');
      expect(off, 'power off recorded before cycle answered').to.not.equal(undefined);
      await l().waitFor(
        () =>
          l()
            .powerLog.slice(before)
            .some((p) => p.server === 'c' && p.on) && l().isPowered('c'),
        5000,
        'c back on',
      );
      const [first, second] = l()
        .powerLog.slice(before)
        .filter((p) => p.server === 'c');
      expect([first?.on, second?.on]).to.deep.equal([false, true]);
      expect(await c().value('status', 'c')).to.equal('on');
    });

    it('one session survives 200 operations', async () => {
      await create('many', 'a');
      await c().value('warm', 'many');
      for (let i = 0; i < 200; i += 1) {
        expect(await c().value('status', 'many')).to.equal('on');
      }
      const stats = await c().stats('many');
      expect(stats.opens).to.equal(1);
      expect(stats.warm).to.equal(true);
      await c().value('close', 'many');
      expect((await c().stats('many')).warm).to.equal(false);
    });

    it('a wrong password is auth, and no error contains it', async () => {
      const wrong = join(l().runDir, 'wrong.pass');
      await writeFile(wrong, 'not-the-password-123\n', { mode: 0o600 });
      await create('wrong', 'a', { passwordFile: wrong });
      const answer = await c().ask('status', 'wrong');
      expect(answer.ok).to.equal(false);
      expect(!answer.ok && answer.kind).to.equal('auth');
      expect(JSON.stringify(answer)).to.not.contain('not-the-password-123');
    });

    it('an unknown user is auth', async () => {
      await create('mallory', 'a', { username: 'mallory' });
      const answer = await c().ask('status', 'mallory');
      expect(!answer.ok && answer.kind, JSON.stringify(answer)).to.equal('auth');
    });

    it('nobody listening is unreachable or timeout, within timeoutMs', async () => {
      await create('nobody', 'a', { port: 624, timeoutMs: 800 });
      const answer = await c().ask('status', 'nobody');
      expect(!answer.ok && answer.kind, JSON.stringify(answer)).to.be.oneOf(['unreachable', 'timeout']);
      // Bounded by its budget (800 ms), with room for a loaded machine.
      expect(answer.ms).to.be.lessThan(3000);
      console.log(`      nobody listening: ${!answer.ok ? (answer.kind ?? '') : ''} after ${answer.ms.toFixed(1)} ms`);
    });

    it('a BMC that stopped answering is timeout within timeoutMs; the session is back once it answers', async () => {
      await create('down', 'a', { timeoutMs: 800 });
      await c().value('warm', 'down');
      l().bmcDown('a');
      try {
        // status, not off: a stopped ipmi_sim still queues our datagrams and would carry out a
        // timed-out off when it wakes up (a timeout does not mean the command was not done).
        const answer = await c().ask('status', 'down');
        expect(!answer.ok && answer.kind, JSON.stringify(answer)).to.equal('timeout');
        expect(answer.ms).to.be.within(700, 2500); // its 800 ms budget, with room for a loaded machine
      } finally {
        await l().restore('a');
      }
      expect(l().isPowered('a')).to.equal(true);
      expect(await c().value('status', 'down')).to.equal('on');
      expect((await c().stats('down')).opens).to.equal(2);
    });

    it('after the BMC restarts (its sessions gone), the next operation opens a new session by itself', async () => {
      await create('restart', 'a', { timeoutMs: 2000 });
      expect(await c().value('status', 'restart')).to.equal('on');
      await restartBmc(l(), 'a');
      const answer = await c().ask('status', 'restart');
      expect(answer.ok && answer.value, JSON.stringify(answer)).to.equal('on');
      const stats = await c().stats('restart');
      expect(stats.opens).to.equal(2);
      console.log(
        `      status across a BMC restart: ${answer.ms.toFixed(1)} ms (first attempt times out, then a new session)`,
      );
    });

    it('latency: session open, status, off+status (printed; 20 each)', async () => {
      const opens: number[] = [];
      for (let i = 0; i < 20; i += 1) {
        await create('open', 'a');
        const answer = await c().ask('warm', 'open');
        expect(answer.ok, JSON.stringify(answer)).to.equal(true);
        opens.push(answer.ms);
        await c().value('close', 'open');
      }
      await create('bench', 'a');
      await c().value('warm', 'bench');
      const statuses: number[] = [];
      const fences: number[] = [];
      for (let i = 0; i < 20; i += 1) {
        statuses.push((await c().ask('status', 'bench')).ms);
      }
      for (let i = 0; i < 20; i += 1) {
        const off = await c().ask('off', 'bench');
        const status = await c().ask('status', 'bench');
        expect(off.ok && status.ok && status.value, JSON.stringify([off, status])).to.equal('off');
        fences.push(off.ms + status.ms);
        await c().value('on', 'bench');
      }
      expect((await c().stats('bench')).opens).to.equal(1);
      const result = { open: summary(opens), status: summary(statuses), offThenStatus: summary(fences) };
      console.log(`      latencies: ${JSON.stringify(result)}`);
      expect(result.offThenStatus.medianMs).to.be.lessThan(1000);
    });
  });
}

/** Kills a server's ipmi_sim and starts a fresh one (same config): every session is gone. */
async function restartBmc(lab: Lab, name: string): Promise<void> {
  const server = lab.get(name);
  await server.bmc?.stop(500);
  // ipmi_sim leaves the UUCP lock of its SOL device behind when killed.
  await rm(`/var/lock/LCK..${basename(server.paths.serialBmc)}`, { force: true });
  server.bmc = await startIpmiSim(lab.group, lab.plan, server.plan);
}
