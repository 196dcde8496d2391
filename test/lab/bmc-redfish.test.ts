/**
 * The lab's Redfish BMC (scripts/lab/redfish-bmc.ts) and our Redfish driver
 * (hal/bmc/redfish/) in the lab, with BMCs that cut the power 4 s after accepting ForceOff.
 * The BMC is first shown to behave like a real one to fence_redfish (Debian fence-agents),
 * through our fence-agent driver; then our driver is tested against it. Needs root:
 *   npx mocha --no-config --timeout 120000 dist/test/lab/bmc-redfish.test.js
 *
 * The BMCs are reachable only from the servers' namespaces and Node cannot enter one, so our
 * driver runs in a child (`ip netns exec NS node THIS_FILE --redfish-child`) that this file
 * also is: one JSON request per stdin line, one JSON answer per stdout line.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FenceAgentBmc } from '../../hal/bmc/fence-agent.js';
import { RedfishBmc } from '../../hal/bmc/redfish/index.js';
import type { RedfishBmcOptions } from '../../hal/bmc/redfish/index.js';
import { isBmcError } from '../../hal/errors/bmc-error.js';
import type { BmcErrorKind } from '../../hal/errors/bmc-error.js';
import type { ManagedProcess } from '../../scripts/lab/children.js';
import { REDFISH_PORT, placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { stats } from '../../scripts/lab/measure.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const OFF_DELAY_MS = 4000;

type Op =
  | 'create'
  | 'status'
  | 'on'
  | 'off'
  | 'cycle'
  | 'warm'
  | 'close'
  | 'sessions'
  | 'drop-sessions'
  | 'fill-sessions'
  | 'basic';
interface ChildRequest {
  id: number;
  op: Op;
  name: string;
  options?: RedfishBmcOptions;
}
type ChildAnswer =
  | { id: number; ok: true; value: unknown; ms: number }
  | { id: number; ok: false; kind: BmcErrorKind | null; message: string; ms: number };

// ---- child side ----------------------------------------------------------------------------

/** A plain Basic-auth request to the BMC's Sessions collection (the test's view, not the driver's). */
function sessionsRequest(
  options: RedfishBmcOptions,
  method: 'GET' | 'DELETE' | 'POST',
  path: string,
  body?: object,
): Promise<unknown> {
  const password = readFileSync(options.passwordFile, 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: options.host,
        port: options.port,
        method,
        path,
        rejectUnauthorized: false,
        auth: `${options.username}:${password}`,
        ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' } }),
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve(text === '' ? null : (JSON.parse(text) as unknown)));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function serveChild(): Promise<void> {
  const bmcs = new Map<string, { bmc: RedfishBmc; options: RedfishBmcOptions }>();
  for await (const line of createInterface({ input: process.stdin })) {
    const request = JSON.parse(line) as ChildRequest;
    const started = performance.now();
    const answer = (value: ChildAnswer): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
    try {
      let value: unknown = null;
      if (request.op === 'create') {
        await bmcs.get(request.name)?.bmc.close();
        const options = request.options as RedfishBmcOptions;
        bmcs.set(request.name, { bmc: new RedfishBmc(options), options });
      } else {
        const entry = bmcs.get(request.name);
        if (entry === undefined) throw new Error(`no bmc ${request.name}`);
        const sessions = '/redfish/v1/SessionService/Sessions';
        if (request.op === 'sessions') {
          value = ((await sessionsRequest(entry.options, 'GET', sessions)) as { Members: unknown[] }).Members.length;
        } else if (request.op === 'drop-sessions') {
          const list = (await sessionsRequest(entry.options, 'GET', sessions)) as {
            Members: Array<Record<string, string>>;
          };
          for (const m of list.Members) await sessionsRequest(entry.options, 'DELETE', m['@odata.id'] ?? '');
        } else if (request.op === 'fill-sessions') {
          // Logins nobody logs out, as killed clients leave them, until the BMC refuses one.
          const password = readFileSync(entry.options.passwordFile, 'utf8').trim();
          for (let i = 0; i < 32; i += 1) {
            const answer = (await sessionsRequest(entry.options, 'POST', sessions, {
              UserName: entry.options.username,
              Password: password,
            })) as { error?: unknown } | null;
            if (answer !== null && answer.error !== undefined) break;
          }
          value = ((await sessionsRequest(entry.options, 'GET', sessions)) as { Members: unknown[] }).Members.length;
        } else if (request.op === 'basic') {
          value = entry.bmc.basicAuth;
        } else value = await entry.bmc[request.op]();
      }
      answer({ id: request.id, ok: true, value: value ?? null, ms: performance.now() - started });
    } catch (error) {
      answer({
        id: request.id,
        ok: false,
        kind: isBmcError(error) ? error.kind : null,
        message: error instanceof Error ? error.message : String(error),
        ms: performance.now() - started,
      });
    }
  }
  await Promise.all([...bmcs.values()].map((e) => e.bmc.close()));
}

if (process.argv[1] === THIS_FILE && process.argv[2] === '--redfish-child') {
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

  ask(op: Op, name: string, options?: RedfishBmcOptions): Promise<ChildAnswer> {
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

function labTests(): void {
  const missing = existsSync('/usr/sbin/fence_redfish')
    ? null
    : 'fence_redfish is not installed (apt-get install fence-agents)';

  describeIfAvailable(
    'lab Redfish BMC (4 s to power off): fence_redfish, then our Redfish driver',
    missing,
    function () {
      this.timeout(120_000);
      let lab: Lab | null = null;
      let child: Child | null = null;

      before(async () => {
        lab = await startLab({
          servers: 3,
          agentCommand: placeholderAgent,
          observer: false,
          redfish: {},
          bmcOffDelayMs: OFF_DELAY_MS,
        });
        const proc = lab.group.spawn({
          name: 'redfish-driver',
          netns: lab.netnsOf('b'),
          argv: [process.execPath, THIS_FILE, '--redfish-child'],
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

      function options(target: string, change: Partial<RedfishBmcOptions> = {}): RedfishBmcOptions {
        const l = current().lab;
        const ipmi = l.bmcOptions(target);
        return {
          member: target,
          host: ipmi.host,
          port: REDFISH_PORT,
          username: ipmi.username,
          passwordFile: ipmi.passwordFile,
          tls: { kind: 'ca', ca: readFileSync(l.redfishTls?.caFile ?? '', 'utf8') },
          system: null,
          timeoutMs: 3000,
          ...change,
        };
      }

      async function driver(name: string, target: string, change: Partial<RedfishBmcOptions> = {}): Promise<void> {
        const answer = await current().child.ask('create', name, options(target, change));
        expect(answer.ok).to.equal(true);
      }

      function fenceRedfish(target: string, passwordFile?: string, timeoutMs = 5000): FenceAgentBmc {
        const l = current().lab;
        const ipmi = l.bmcOptions(target);
        return new FenceAgentBmc(
          {
            member: target,
            agent: 'fence_redfish',
            host: ipmi.host,
            port: REDFISH_PORT,
            username: ipmi.username,
            passwordFile: passwordFile ?? ipmi.passwordFile,
            plug: null,
            options: {},
            timeoutMs,
          },
          {
            command: ['env', `REQUESTS_CA_BUNDLE=${l.redfishTls?.caFile ?? ''}`, 'ip', 'netns', 'exec', l.netnsOf('b')],
          },
        );
      }

      it('fence_redfish: status, off (accepted, power off 4 s later), on, reboot', async () => {
        const l = current().lab;
        const agent = fenceRedfish('a');
        expect(await agent.status()).to.equal('on');
        const offAt = performance.now();
        await agent.off();
        expect(performance.now() - offAt).to.be.below(OFF_DELAY_MS);
        expect(await agent.status()).to.equal('on');
        await l.waitFor(async () => (await agent.status()) === 'off', 10_000, 'fence_redfish reading off', 200);
        expect(l.isPowered('a')).to.equal(false);
        await agent.on();
        await l.waitFor(async () => (await agent.status()) === 'on', 10_000, 'fence_redfish reading on', 200);
        const before = l.powerLog.length;
        // fence_redfish has no single cycle command: reboot is off, its own wait, on.
        await fenceRedfish('a', undefined, 20_000).cycle();
        await l.waitFor(() => l.isPowered('a'), 10_000, 'a on after reboot');
        expect(l.powerLog.slice(before).map((p) => `${p.server}:${p.on ? 'on' : 'off'}`)).to.deep.equal([
          'a:off',
          'a:on',
        ]);
      });

      it('fence_redfish with a wrong password is auth (HTTP 401), without the password in the error', async () => {
        const wrong = join(current().lab.runDir, 'wrong-redfish.pass');
        await writeFile(wrong, 'wrong-redfish-pw-789\n', { mode: 0o600 });
        const error = await fenceRedfish('a', wrong)
          .status()
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(isBmcError(error) && error.kind, String(error)).to.equal('auth');
        expect((error as Error).message).to.not.contain('wrong-redfish-pw-789');
      });

      it('our driver: status, off resolves at once, status reads on until the BMC cut the power, on; one session, logged out at close', async () => {
        const { lab: l, child: c } = current();
        await driver('c', 'c');
        const statusMs: number[] = [];
        for (let i = 0; i < 5; i += 1) {
          const a = await c.ask('status', 'c');
          expect(a.ok && a.value).to.equal('on');
          statusMs.push(a.ms);
        }
        const off = await c.ask('off', 'c');
        expect(off.ok, JSON.stringify(off)).to.equal(true);
        const offAt = performance.now();
        expect(off.ms).to.be.below(1000);
        expect(await c.value('status', 'c')).to.equal('on');
        let polls = 0;
        await l.waitFor(
          async () => {
            polls += 1;
            return (await c.value('status', 'c')) === 'off';
          },
          10_000,
          'our driver reading off',
          50,
        );
        const offReadMs = performance.now() - offAt;
        expect(offReadMs).to.be.at.least(OFF_DELAY_MS - 50);
        expect(l.isPowered('c')).to.equal(false);
        const on = await c.ask('on', 'c');
        expect(on.ok, JSON.stringify(on)).to.equal(true);
        await l.waitFor(async () => (await c.value('status', 'c')) === 'on', 10_000, 'our driver reading on', 50);
        expect(await c.value('sessions', 'c')).to.equal(1);
        await c.value('close', 'c');
        expect(await c.value('sessions', 'c')).to.equal(0);
        console.log(
          `      redfish status ${JSON.stringify(stats(statusMs))}; off accepted in ${off.ms.toFixed(1)} ms; read off ${offReadMs.toFixed(0)} ms after (${polls} polls); on ${on.ms.toFixed(1)} ms`,
        );
      });

      it('our driver opens the session again when the BMC dropped it (401)', async () => {
        const c = current().child;
        await driver('s', 'a');
        expect(await c.value('status', 's')).to.equal('on');
        await c.value('drop-sessions', 's');
        expect(await c.value('sessions', 's')).to.equal(0);
        expect(await c.value('status', 's')).to.equal('on');
        expect(await c.value('sessions', 's')).to.equal(1);
        await c.value('close', 's');
      });

      it('our driver fences with HTTP Basic when every session slot is taken (sessions of killed clients), and logs in again once one is free', async () => {
        const { lab: l, child: c } = current();
        await driver('f', 'c');
        const full = await c.value('fill-sessions', 'f');
        expect(full).to.be.at.least(1);
        const status = await c.ask('status', 'f');
        expect(status.ok && status.value, JSON.stringify(status)).to.equal('on');
        expect(await c.value('basic', 'f')).to.equal(true);
        const off = await c.ask('off', 'f');
        expect(off.ok, JSON.stringify(off)).to.equal(true);
        await l.waitFor(async () => (await c.value('status', 'f')) === 'off', 10_000, 'c read off through Basic', 50);
        await c.value('drop-sessions', 'f');
        expect(await c.value('on', 'f')).to.equal(null);
        expect(await c.value('basic', 'f')).to.equal(false);
        expect(await c.value('sessions', 'f')).to.equal(1);
        await l.waitFor(async () => (await c.value('status', 'f')) === 'on', 10_000, 'c read on', 50);
        await c.value('close', 'f');
      });

      it('our driver: a wrong password is auth, without the password in the error', async () => {
        const c = current().child;
        const wrong = join(current().lab.runDir, 'wrong-redfish2.pass');
        await writeFile(wrong, 'wrong-redfish-pw-000\n', { mode: 0o600 });
        await driver('w', 'a', { passwordFile: wrong });
        const answer = await c.ask('status', 'w');
        expect(answer.ok).to.equal(false);
        if (!answer.ok) {
          expect(answer.kind).to.equal('auth');
          expect(answer.message).to.not.contain('wrong-redfish-pw-000');
        }
      });

      it('our driver: a certificate from another CA, or a fingerprint that does not match, is refused; the right pin and insecure work', async () => {
        const { lab: l, child: c } = current();
        const tls = l.redfishTls;
        if (tls === null) throw new Error('no lab TLS');
        await driver('x', 'a', { tls: { kind: 'ca', ca: readFileSync(tls.otherCaFile, 'utf8') } });
        const other = await c.ask('status', 'x');
        expect(other.ok === false && other.kind).to.equal('refused');
        expect(other.ok === false && other.message).to.contain('not trusted');
        await driver('p', 'a', { tls: { kind: 'fingerprint', sha256: '00'.repeat(32) } });
        const pin = await c.ask('status', 'p');
        expect(pin.ok === false && pin.kind).to.equal('refused');
        expect(pin.ok === false && pin.message).to.contain('not the pinned one');
        await driver('q', 'a', { tls: { kind: 'fingerprint', sha256: tls.fingerprint } });
        expect(await c.value('status', 'q')).to.equal('on');
        await driver('i', 'a', { tls: { kind: 'insecure' } });
        expect(await c.value('status', 'i')).to.equal('on');
        for (const name of ['q', 'i']) await c.value('close', name);
      });

      it('our driver: a BMC that stopped answering is timeout at the deadline', async () => {
        const { lab: l, child: c } = current();
        await driver('d', 'a', { timeoutMs: 1500 });
        l.bmcDown('a');
        try {
          const answer = await c.ask('off', 'd');
          expect(answer.ok === false && answer.kind).to.equal('timeout');
          expect(answer.ms).to.be.within(1400, 2500);
        } finally {
          await l.restore('a');
        }
        expect(l.isPowered('a')).to.equal(true);
      });
    },
  );

  describeIfAvailable('lab Redfish BMC answering resets with 202 and a task', missing, function () {
    this.timeout(60_000);
    let lab: Lab | null = null;
    after(async () => {
      await lab?.stop();
    });

    it('our driver follows the task to its end before off resolves', async () => {
      const l = (lab = await startLab({
        servers: 2,
        agentCommand: placeholderAgent,
        observer: false,
        redfish: { taskMs: 600 },
      }));
      const proc = l.group.spawn({
        name: 'redfish-driver',
        netns: l.netnsOf('b'),
        argv: [process.execPath, THIS_FILE, '--redfish-child'],
        stdin: true,
      });
      const c = new Child(proc);
      const ipmi = l.bmcOptions('a');
      await c.ask('create', 't', {
        member: 'a',
        host: ipmi.host,
        port: REDFISH_PORT,
        username: ipmi.username,
        passwordFile: ipmi.passwordFile,
        tls: { kind: 'fingerprint', sha256: l.redfishTls?.fingerprint ?? '' },
        system: '/redfish/v1/Systems/1',
        timeoutMs: 3000,
      });
      const off = await c.ask('off', 't');
      expect(off.ok, JSON.stringify(off)).to.equal(true);
      expect(off.ms).to.be.at.least(550);
      expect(l.isPowered('a')).to.equal(false);
      await c.value('on', 't');
      expect(l.isPowered('a')).to.equal(true);
      await c.value('close', 't');
      proc.child.stdin?.end();
    });
  });
}
