/**
 * Switch-port isolation over SNMP IF-MIB (hal/isolation/snmp.ts) against the lab's managed
 * switch: Debian's snmpd in the LAN namespace (scripts/lab/snmpd.ts), where a SET of
 * ifAdminStatus really takes a server's bridge port down. Checked on the ground truth (the
 * port's and the server's link state), with the real fence_ifmib as a cross-check. Needs root:
 *   npx mocha --no-config --timeout 120000 dist/test/lab/isolation-snmp.test.js
 *
 * The switch is reachable only from the servers' namespaces and Node cannot enter one, so the
 * driver runs in a child (`ip netns exec NS node THIS_FILE --snmp-child`) that this file also
 * is: one JSON request per stdin line, one JSON answer per stdout line.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FenceAgentBmc } from '../../hal/bmc/fence-agent.js';
import { isIsolationError } from '../../hal/errors/isolation-error.js';
import type { IsolationErrorKind } from '../../hal/errors/isolation-error.js';
import { SnmpIsolatorFactory } from '../../hal/isolation/snmp.js';
import type { SnmpIsolator, SnmpIsolatorOptions } from '../../hal/isolation/snmp.js';
import type { ManagedProcess } from '../../scripts/lab/children.js';
import { exec } from '../../scripts/lab/exec.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { stats } from '../../scripts/lab/measure.js';
import { SNMP_PORT, portIfIndex, switchHost } from '../../scripts/lab/snmpd.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';

const THIS_FILE = fileURLToPath(import.meta.url);

type Op = 'create' | 'isolate' | 'restore' | 'status' | 'read' | 'close';
interface ChildRequest {
  id: number;
  op: Op;
  name: string;
  options?: SnmpIsolatorOptions;
}
type ChildAnswer =
  | { id: number; ok: true; value: unknown; ms: number }
  | { id: number; ok: false; kind: IsolationErrorKind | null; message: string; ms: number };

// ---- child side ----------------------------------------------------------------------------

async function serveChild(): Promise<void> {
  const isolators = new Map<string, { factory: SnmpIsolatorFactory; isolator: SnmpIsolator }>();
  for await (const line of createInterface({ input: process.stdin })) {
    const request = JSON.parse(line) as ChildRequest;
    const started = performance.now();
    const answer = (value: ChildAnswer): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
    try {
      let value: unknown = null;
      if (request.op === 'create') {
        isolators.get(request.name)?.factory.closeAll();
        const options = request.options as SnmpIsolatorOptions;
        const factory = new SnmpIsolatorFactory([options]);
        isolators.set(request.name, { factory, isolator: factory.open(options.member) });
      } else {
        const entry = isolators.get(request.name);
        if (entry === undefined) throw new Error(`no isolator ${request.name}`);
        if (request.op === 'close') entry.factory.closeAll();
        else if (request.op === 'read') value = await entry.isolator.read('read');
        else value = await entry.isolator[request.op]();
      }
      answer({ id: request.id, ok: true, value: value ?? null, ms: performance.now() - started });
    } catch (error) {
      answer({
        id: request.id,
        ok: false,
        kind: isIsolationError(error) ? error.kind : null,
        message: error instanceof Error ? error.message : String(error),
        ms: performance.now() - started,
      });
    }
  }
  for (const entry of isolators.values()) entry.factory.closeAll();
}

if (process.argv[1] === THIS_FILE && process.argv[2] === '--snmp-child') {
  void serveChild();
} else {
  labTests();
}

// ---- harness side --------------------------------------------------------------------------

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

  ask(op: Op, name: string, options?: SnmpIsolatorOptions): Promise<ChildAnswer> {
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
}

/** The port's state in the switch and the server's carrier, from the kernel (ground truth). */
async function linkState(lab: Lab, server: string): Promise<{ portUp: boolean; carrier: boolean }> {
  const port = lab.get(server).plan.lanPort;
  const { stdout: portLine } = await exec('ip', ['-n', lab.plan.lanNetns, '-o', 'link', 'show', 'dev', port]);
  const { stdout: eth0 } = await exec('ip', ['-n', lab.netnsOf(server), '-o', 'link', 'show', 'dev', 'eth0']);
  const flags = (line: string): string[] => /<([^>]*)>/.exec(line)?.[1]?.split(',') ?? [];
  return { portUp: flags(portLine).includes('UP'), carrier: flags(eth0).includes('LOWER_UP') };
}

function labTests(): void {
  const missing = !existsSync('/usr/sbin/snmpd')
    ? 'snmpd is not installed (apt-get install snmpd)'
    : !existsSync('/usr/sbin/fence_ifmib')
      ? 'fence_ifmib is not installed (apt-get install fence-agents)'
      : !existsSync('/usr/bin/snmpwalk')
        ? 'snmpwalk is not installed (apt-get install snmp; fence_ifmib runs it)'
        : null;

  describeIfAvailable('switch-port isolation over SNMP IF-MIB against the lab switch (snmpd)', missing, function () {
    this.timeout(120_000);
    let lab: Lab | null = null;
    let child: Child | null = null;

    before(async () => {
      lab = await startLab({ servers: 3, agentCommand: placeholderAgent, observer: false, switchSnmp: true });
      // The driver runs on b and cuts a's (or c's) port, as a monitor would.
      const proc = lab.group.spawn({
        name: 'snmp-driver',
        netns: lab.netnsOf('b'),
        argv: [process.execPath, THIS_FILE, '--snmp-child'],
        stdin: true,
      });
      proc.child.stderr?.resume();
      child = new Child(proc);
    });
    after(async () => {
      child?.process.child.stdin?.end();
      await lab?.stop();
    });

    function current(): { lab: Lab; child: Child } {
      if (lab === null || child === null) throw new Error('lab not started');
      return { lab, child };
    }

    async function options(target: string, change: Partial<SnmpIsolatorOptions> = {}): Promise<SnmpIsolatorOptions> {
      const l = current().lab;
      return {
        member: target,
        host: switchHost(),
        port: SNMP_PORT,
        communityFile: l.snmpdFiles?.communityFile ?? '',
        ifIndex: await portIfIndex(l.plan, l.get(target).plan.lanPort),
        timeoutMs: 1000,
        requestMs: 200,
        pollMs: 1,
        ...change,
      };
    }

    async function create(name: string, target: string, change: Partial<SnmpIsolatorOptions> = {}): Promise<void> {
      const answer = await current().child.ask('create', name, await options(target, change));
      expect(answer.ok, JSON.stringify(answer)).to.equal(true);
    }

    function fenceIfmib(target: string, community: string): FenceAgentBmc {
      const l = current().lab;
      return new FenceAgentBmc(
        {
          member: target,
          agent: 'fence_ifmib',
          host: switchHost(),
          port: null,
          // fence_ifmib's SNMPv2c reads the community option; username and password are for v3.
          username: 'unused',
          passwordFile: l.snmpdFiles?.communityFile ?? '',
          plug: l.get(target).plan.lanPort,
          options: { snmp_version: '2c', community },
          timeoutMs: 10_000,
        },
        { command: ['ip', 'netns', 'exec', l.netnsOf('b')] },
      );
    }

    it('isolate cuts the port (the server loses its link), read back in milliseconds; restore brings it back', async () => {
      const { lab: l, child: c } = current();
      await create('a', 'a');
      expect(await c.value('status', 'a')).to.equal('connected');
      expect(await linkState(l, 'a')).to.deep.equal({ portUp: true, carrier: true });
      const isolateMs: number[] = [];
      const restoreMs: number[] = [];
      const statusMs: number[] = [];
      for (let round = 0; round < 10; round += 1) {
        const cut = await c.ask('isolate', 'a');
        expect(cut.ok, JSON.stringify(cut)).to.equal(true);
        isolateMs.push(cut.ms);
        // The SET is carried out before the switch answers: the port is down when isolate resolves.
        expect((await linkState(l, 'a')).portUp).to.equal(false);
        await l.waitFor(async () => !(await linkState(l, 'a')).carrier, 2000, "a's carrier gone");
        const status = await c.ask('status', 'a');
        expect(status.ok && status.value).to.equal('isolated');
        statusMs.push(status.ms);
        const back = await c.ask('restore', 'a');
        expect(back.ok, JSON.stringify(back)).to.equal(true);
        restoreMs.push(back.ms);
        expect((await linkState(l, 'a')).portUp).to.equal(true);
        await l.waitFor(async () => (await linkState(l, 'a')).carrier, 2000, "a's carrier back");
        expect(await c.value('status', 'a')).to.equal('connected');
      }
      // Idempotent: a second isolate of a cut port, a second restore of a connected one.
      await c.value('isolate', 'a');
      await c.value('isolate', 'a');
      expect(await c.value('status', 'a')).to.equal('isolated');
      await c.value('restore', 'a');
      await c.value('restore', 'a');
      expect(await c.value('status', 'a')).to.equal('connected');
      expect(stats(isolateMs).medianMs).to.be.below(200);
      console.log(
        `      snmp isolate (SET + read-back) ${JSON.stringify(stats(isolateMs))}; status ${JSON.stringify(stats(statusMs))}; restore ${JSON.stringify(stats(restoreMs))}`,
      );
    });

    it('a read-only community is auth; a wrong one times out within the deadline; neither is in the error', async () => {
      const { lab: l, child: c } = current();
      const readOnly = l.snmpdFiles?.readOnlyFile ?? '';
      await create('ro', 'a', { communityFile: readOnly });
      const refused = await c.ask('isolate', 'ro');
      expect(refused.ok).to.equal(false);
      if (refused.ok) return;
      expect(refused.kind, refused.message).to.equal('auth');
      // Reading is allowed to a read-only community.
      expect(await c.value('status', 'ro')).to.equal('connected');
      expect((await linkState(l, 'a')).portUp).to.equal(true);

      const wrong = join(l.runDir, 'wrong-community');
      await writeFile(wrong, 'wrong-community-4711\n', { mode: 0o600 });
      await create('wrong', 'a', { communityFile: wrong, timeoutMs: 500 });
      const silent = await c.ask('isolate', 'wrong');
      expect(silent.ok).to.equal(false);
      if (silent.ok) return;
      expect(silent.kind, silent.message).to.equal('timeout');
      expect(silent.ms).to.be.within(450, 1500);
      expect(silent.message).to.contain('wrong community');
      expect(silent.message).to.not.contain('wrong-community-4711');
      expect((await linkState(l, 'a')).portUp).to.equal(true);
    });

    it('a port the switch does not have is refused', async () => {
      const c = current().child;
      await create('ghost', 'a', { ifIndex: 4242 });
      const answer = await c.ask('status', 'ghost');
      expect(answer.ok).to.equal(false);
      if (!answer.ok) expect(answer.kind, answer.message).to.equal('refused');
    });

    it('a switch that stopped answering is a timeout at the deadline, and works again after', async () => {
      const { lab: l, child: c } = current();
      await create('down', 'c', { timeoutMs: 600 });
      expect(await c.value('status', 'down')).to.equal('connected');
      expect(l.snmpd?.signal('SIGSTOP')).to.equal(true);
      try {
        const answer = await c.ask('isolate', 'down');
        expect(answer.ok).to.equal(false);
        if (!answer.ok) {
          expect(answer.kind, answer.message).to.equal('timeout');
          expect(answer.ms).to.be.within(550, 1600);
        }
      } finally {
        l.snmpd?.signal('SIGCONT');
      }
      // The SET may have been queued in the switch's socket and carried out on SIGCONT: the
      // same kept session restores the port and reads it back.
      await c.value('restore', 'down');
      expect(await c.value('status', 'down')).to.equal('connected');
      expect((await linkState(l, 'c')).portUp).to.equal(true);
    });

    it('fence_ifmib agrees: it reads our cut, and our driver reads its cut', async () => {
      const { lab: l, child: c } = current();
      const community = readFileSync(l.snmpdFiles?.communityFile ?? '', 'utf8').trim();
      const agent = fenceIfmib('c', community);
      await create('c', 'c');
      expect(await agent.status()).to.equal('on');
      await c.value('isolate', 'c');
      expect(await agent.status()).to.equal('off');
      await c.value('restore', 'c');
      expect(await agent.status()).to.equal('on');
      const offAt = performance.now();
      await agent.off();
      const agentOffMs = performance.now() - offAt;
      expect(await c.value('status', 'c')).to.equal('isolated');
      expect((await linkState(l, 'c')).portUp).to.equal(false);
      await agent.on();
      expect(await c.value('status', 'c')).to.equal('connected');
      expect((await linkState(l, 'c')).portUp).to.equal(true);
      console.log(`      fence_ifmib off (one process, accepted) ${agentOffMs.toFixed(0)} ms`);
    });
  });
}
