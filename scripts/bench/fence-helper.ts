/**
 * Runs inside a server's network namespace (started by the benchmark with `ip netns exec`):
 * fences another server through its BMC again and again, and times each fence in-process,
 * so that ours and fence_ipmilan are timed the same way from the same place.
 *
 *   node fence-helper.js JSON
 *
 * JSON: { method, runs, bmc: IpmitoolBmcOptions, wrapper?, fenceArgs? }. Prints one JSON line
 * per run: {"run":N,"ms":..., "ok":true|false, "detail":...}, then {"done":true}.
 *
 * Methods:
 *   ours-off        IpmitoolBmc off, then status must read off (the agent's off-on fence)
 *   ours-cycle      off, status off, on, status on (power cycle confirmed)
 *   ours-status     one status read (the cost of one ipmitool run)
 *   fence_ipmilan   `fence_ipmilan ARGS` (its exit code 0 = success); before each run the
 *                   target is powered on again (not timed) when the action leaves it off.
 *   session-status  one `chassis power status` in an RMCP+ session kept open (`ipmitool shell`):
 *                   no process start, no session setup: about the BMC's own response time
 *   session-off     power off and status reads off, in that kept session (what a fence over a
 *                   persistent session would cost); powered on again untimed
 *   rmcp-status     one status through RmcpBmc (hal/bmc/rmcp.ts: RMCP+ in-process, session kept
 *                   open; the session is opened untimed before the runs)
 *   rmcp-off        RmcpBmc off, then status reads off, in that session; powered on again untimed
 *   redfish-status  one PowerState read through RedfishBmc (hal/bmc/redfish: HTTPS, session kept;
 *                   opened untimed before the runs) against the lab's Redfish BMC
 *   redfish-off     RedfishBmc ForceOff, then PowerState reads Off; powered on again untimed
 *   agent-off       our fence-agent backend (FenceAgentBmc, one agent process per command) with
 *                   `agent`: off, then status reads off; powered on again untimed
 *   program         any fence agent run whole (`argv`, `env`; exit code 0 = success), like
 *                   fence_ipmilan; `restoreOn` as there
 *   snmp-isolate    SnmpIsolator (hal/isolation/snmp.ts, in-process, socket kept) cuts the
 *                   target's switch port and reads it back; restored untimed
 *   snmp-status     one read of the port's ifAdminStatus/ifOperStatus in that session
 *   ifmib-off       fence_ifmib --action=off (one process, SNMP through net-snmp's Python
 *                   binding); restored untimed through our isolator
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import type { IpmitoolBmcOptions } from '../../hal/bmc/ipmitool.js';
import { RmcpBmc } from '../../hal/bmc/rmcp.js';
import { FenceAgentBmc } from '../../hal/bmc/fence-agent.js';
import { RedfishBmc } from '../../hal/bmc/redfish/index.js';
import type { RedfishBmcOptions } from '../../hal/bmc/redfish/index.js';
import { SnmpIsolatorFactory } from '../../hal/isolation/snmp.js';
import type { SnmpIsolatorOptions } from '../../hal/isolation/snmp.js';
import { readFileSync } from 'node:fs';

interface HelperRequest {
  method:
    | 'ours-off'
    | 'ours-cycle'
    | 'ours-status'
    | 'fence_ipmilan'
    | 'session-status'
    | 'session-off'
    | 'rmcp-status'
    | 'rmcp-off'
    | 'redfish-status'
    | 'redfish-off'
    | 'agent-off'
    | 'program'
    | 'snmp-isolate'
    | 'snmp-status'
    | 'ifmib-off';
  runs: number;
  bmc: IpmitoolBmcOptions;
  fenceArgs?: string[];
  /** redfish-*: the lab Redfish BMC (the CA as a file, read here). */
  redfish?: Omit<RedfishBmcOptions, 'tls'> & { caFile: string };
  /** agent-off: which fence agent, and its extra options. */
  agent?: { name: string; port: number | null; options: Record<string, string> };
  /** program: the agent's argv and extra environment. */
  argv?: string[];
  env?: Record<string, string>;
  /** program: `key=value` lines for the agent's stdin, then one line per secret read from its file. */
  stdin?: string;
  stdinSecrets?: Record<string, string>;
  /** snmp-* and ifmib-off: the target's switch port. */
  snmp?: SnmpIsolatorOptions;
  /** fence_ipmilan leaves the target off (action off): power it on before the next run. */
  restoreOn?: boolean;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function runProgram(
  argv: readonly string[],
  env: Record<string, string> = {},
  stdin: string | null = null,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const child = spawn(file ?? 'false', args, {
      stdio: [stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    if (stdin !== null) child.stdin?.end(stdin);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', (error) => resolve({ code: null, output: String(error) }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** `ipmitool ... shell`: one RMCP+ session, commands on stdin, answers on stdout. */
class IpmitoolSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private output = '';

  constructor(options: IpmitoolBmcOptions) {
    const args = [
      '-I',
      options.interface,
      ...(options.interface === 'lanplus' ? ['-C', String(options.cipherSuite)] : []),
      '-H',
      options.host,
      '-p',
      String(options.port),
      '-U',
      options.username,
      '-f',
      options.passwordFile,
      'shell',
    ];
    this.child = spawn('ipmitool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.child.stderr.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
  }

  /** Sends one command and resolves with its answer line (`Chassis Power ...`). */
  async command(line: string, timeoutMs = 5000): Promise<string> {
    this.output = '';
    this.child.stdin.write(`${line}\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = /(Chassis Power [^\n]*)\n/.exec(this.output) ?? /((?:Error|Unable)[^\n]*)\n/.exec(this.output);
      if (match !== null) return match[1] ?? '';
      if (Date.now() > deadline)
        throw new Error(`no answer to "${line}" in ${timeoutMs} ms: ${this.output.trim().slice(0, 200)}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Ends the session and waits for ipmitool to exit (an orphan would never be reaped here). */
  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.child.stdin.end('exit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as HelperRequest;
  const bmc = new IpmitoolBmc(request.bmc);
  const print = (value: unknown): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  };
  if ((await bmc.status()) !== 'on') await bmc.on();
  const session = request.method.startsWith('session-') ? new IpmitoolSession(request.bmc) : null;
  const { interface: _lanplusOnly, ...rmcpOptions } = request.bmc;
  const rmcp = request.method.startsWith('rmcp-') ? new RmcpBmc(rmcpOptions) : null;
  const rf = request.redfish;
  const redfish =
    request.method.startsWith('redfish-') && rf !== undefined
      ? new RedfishBmc({ ...rf, tls: { kind: 'ca', ca: readFileSync(rf.caFile, 'utf8') } })
      : null;
  const agent =
    request.method === 'agent-off' && request.agent !== undefined
      ? new FenceAgentBmc({
          member: request.bmc.member,
          agent: request.agent.name,
          host: request.bmc.host,
          port: request.agent.port,
          username: request.bmc.username,
          passwordFile: request.bmc.passwordFile,
          plug: null,
          options: request.agent.options,
          timeoutMs: 10_000,
        })
      : null;
  const isolators = request.snmp === undefined ? null : new SnmpIsolatorFactory([request.snmp]);
  const isolator = isolators?.open(request.snmp?.member ?? '') ?? null;
  try {
    // The session's setup is not timed: the first command opens it.
    if (session !== null) await session.command('chassis power status', 10_000);
    await rmcp?.warm();
    await redfish?.warm();
    // The switch session's socket and first exchange, untimed like the others.
    if (isolator !== null) await isolator.status();
    for (let run = 1; run <= request.runs; run += 1) {
      const started = nowMs();
      try {
        switch (request.method) {
          case 'ours-status': {
            const power = await bmc.status();
            print({ run, ms: nowMs() - started, ok: true, detail: `power ${power}` });
            break;
          }
          case 'ours-off':
          case 'ours-cycle': {
            await bmc.off();
            const off = await bmc.status();
            const offMs = nowMs() - started;
            if (off !== 'off') throw new Error(`power still ${off} after power off`);
            if (request.method === 'ours-off') {
              print({ run, ms: offMs, ok: true, detail: 'power off confirmed' });
              await bmc.on();
              break;
            }
            await bmc.on();
            const on = await bmc.status();
            if (on !== 'on') throw new Error(`power ${on} after power on`);
            print({ run, ms: nowMs() - started, offMs, ok: true, detail: 'power cycle confirmed' });
            break;
          }
          case 'session-status': {
            const answer = await (session as IpmitoolSession).command('chassis power status');
            print({ run, ms: nowMs() - started, ok: /is (on|off)/.test(answer), detail: answer });
            break;
          }
          case 'session-off': {
            const live = session as IpmitoolSession;
            const off = await live.command('chassis power off');
            const status = await live.command('chassis power status');
            const ms = nowMs() - started;
            print({ run, ms, ok: /is off/.test(status), detail: `${off}; ${status}` });
            await live.command('chassis power on');
            break;
          }
          case 'rmcp-status': {
            const power = await (rmcp as RmcpBmc).status();
            print({ run, ms: nowMs() - started, ok: true, detail: `power ${power}` });
            break;
          }
          case 'rmcp-off': {
            const live = rmcp as RmcpBmc;
            await live.off();
            const off = await live.status();
            const ms = nowMs() - started;
            print({ run, ms, ok: off === 'off', detail: `power ${off} after power off` });
            await live.on();
            break;
          }
          case 'redfish-status': {
            const power = await (redfish as RedfishBmc).status();
            print({ run, ms: nowMs() - started, ok: true, detail: `power ${power}` });
            break;
          }
          case 'redfish-off':
          case 'agent-off': {
            const live = (request.method === 'redfish-off' ? redfish : agent) as RedfishBmc | FenceAgentBmc;
            await live.off();
            let polls = 1;
            // The lab's BMC cuts the power as it accepts; poll like the agent would anyway.
            while ((await live.status()) !== 'off') {
              if (nowMs() - started > 10_000) throw new Error('power still on 10 s after off');
              polls += 1;
            }
            print({ run, ms: nowMs() - started, ok: true, detail: `power off confirmed (${polls} status reads)` });
            await bmc.on();
            break;
          }
          case 'snmp-isolate': {
            const live = isolator as NonNullable<typeof isolator>;
            await live.isolate();
            print({ run, ms: nowMs() - started, ok: true, detail: 'port read back down' });
            await live.restore();
            break;
          }
          case 'snmp-status': {
            const state = await (isolator as NonNullable<typeof isolator>).status();
            print({ run, ms: nowMs() - started, ok: state === 'connected', detail: state });
            break;
          }
          case 'ifmib-off':
          case 'program': {
            // Secrets in the agent's stdin options (fence-agents' protocol), never on its command line.
            const secrets = Object.entries(request.stdinSecrets ?? {})
              .map(([key, file]) => `${key}=${readFileSync(file, 'utf8').split('\n')[0]?.trim() ?? ''}\n`)
              .join('');
            const stdin = request.stdin === undefined ? null : `${request.stdin}${secrets}`;
            const result = await runProgram(request.argv ?? [], request.env ?? {}, stdin);
            const ms = nowMs() - started;
            const detail = result.output
              .split('\n')
              .filter((line) => line.trim() !== '' && !/DeprecationWarning|from pipes import/.test(line))
              .join(' | ');
            print({ run, ms, ok: result.code === 0, detail });
            if (request.method === 'ifmib-off') await (isolator as NonNullable<typeof isolator>).restore();
            if (request.restoreOn === true && (await bmc.status()) !== 'on') await bmc.on();
            break;
          }
          case 'fence_ipmilan': {
            const result = await runProgram(['fence_ipmilan', ...(request.fenceArgs ?? [])]);
            const ms = nowMs() - started;
            const detail = result.output
              .split('\n')
              .filter((line) => line.trim() !== '' && !/DeprecationWarning|from pipes import/.test(line))
              .join(' | ');
            print({ run, ms, ok: result.code === 0, detail });
            if (request.restoreOn === true && (await bmc.status()) !== 'on') await bmc.on();
            break;
          }
        }
      } catch (error) {
        print({
          run,
          ms: nowMs() - started,
          ok: false,
          detail: error instanceof Error ? error.message : String(error),
        });
        if ((await bmc.status().catch(() => 'unknown')) !== 'on') await bmc.on().catch(() => undefined);
      }
    }
  } finally {
    await session?.close();
    await rmcp?.close();
    await redfish?.close();
    isolators?.closeAll();
  }
  print({ done: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`fence-helper: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
