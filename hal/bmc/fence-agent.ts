/**
 * BMC driver that runs an installed fence agent (fence_ipmilan, fence_redfish, fence_apc,
 * fence_ifmib, ...: the fence-agents family) once per operation, with the family's stdin
 * protocol: one `key=value` per line, `action=` first.
 *
 * - The password is read from `passwordFile` by this module and written to the agent's stdin
 *   only: never on a command line, in a log or in an error (the agent's output is scrubbed of
 *   it before anything is taken from it).
 * - `off`/`on` resolve when the device accepted the command, not when the power changed: the
 *   agent is told to wait for nothing (`power_wait=0`) and to read the power once
 *   (`power_timeout=1`, `stonith_status_sleep=0`); "Timed out waiting to power OFF" after that
 *   one read means accepted, and the caller's own polling measures the BMC.
 * - `cycle` is `action=reboot` with `method=cycle` (one cycle command where the agent has it).
 * - Each run has a deadline (`timeoutMs`): the agent runs in its own process group, which is
 *   killed then, and the operation rejects with `timeout` at once.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { BmcError } from '../errors/bmc-error.js';
import type { Bmc, BmcFactory, PowerState } from './index.js';
import { interpretFenceAgent } from './fence-agent-output.js';
import type { FenceAgentOperation, FenceAgentOutcome, FenceAgentRun } from './fence-agent-output.js';

export interface FenceAgentBmcOptions {
  member: string;
  /** The agent: a name looked up on PATH (`fence_ipmilan`) or an absolute path. */
  agent: string;
  host: string;
  /** null: not passed (the agent's own default port). */
  port: number | null;
  username: string;
  /** File holding the password; its first line is the password. */
  passwordFile: string;
  /** Outlet, port or VM of the device that belongs to this member (`plug=`); null: none. */
  plug: string | null;
  /** Extra `key=value` lines for the agent (board `bmc.fence_agent.options`). */
  options: Readonly<Record<string, string>>;
  /** Upper bound for one operation (the whole agent run). */
  timeoutMs: number;
}

export interface FenceAgentDriverOptions {
  /** Argv prefix before the agent, e.g. `['ip', 'netns', 'exec', NS]` in the lab. Default none. */
  command?: readonly string[];
}

/** Keys the driver writes itself; the board's options may not set them. */
export const RESERVED_FENCE_AGENT_KEYS: readonly string[] = [
  'action',
  'ip',
  'ipaddr',
  'ipport',
  'username',
  'login',
  'password',
  'passwd',
  'password_script',
  'plug',
  'port',
];

const ACTION: Readonly<Record<FenceAgentOperation, string>> = {
  status: 'status',
  on: 'on',
  off: 'off',
  cycle: 'reboot',
};

const MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * The stdin lines for one operation. Order: our timing defaults, then the board's options
 * (which may change the timing), then the identity and the password, which nothing overrides.
 */
export function fenceAgentStdin(
  options: FenceAgentBmcOptions,
  operation: FenceAgentOperation,
  password: string,
): string {
  const lines = new Map<string, string>();
  // The agent's own limit for each command it runs, in whole seconds, inside our deadline.
  const limitS = String(Math.max(1, Math.floor(options.timeoutMs / 1000)));
  lines.set('verbose_level', '2'); // the cause of a failure is only in the verbose log
  lines.set('disable_timeout', 'false');
  if (operation === 'off' || operation === 'on') {
    lines.set('power_wait', '0');
    lines.set('power_timeout', '1');
    lines.set('stonith_status_sleep', '0');
    if (operation === 'on') lines.set('retry_on', '0');
  } else {
    lines.set('power_timeout', limitS);
  }
  if (operation === 'cycle') {
    lines.set('method', 'cycle');
    lines.set('power_wait', '0');
  }
  for (const [key, value] of Object.entries(options.options)) lines.set(key, value);
  lines.set('action', ACTION[operation]);
  lines.set('ip', options.host);
  if (options.port !== null) lines.set('ipport', String(options.port));
  lines.set('username', options.username);
  if (options.plug !== null) lines.set('plug', options.plug);
  lines.set('password', password);
  return [...lines].map(([key, value]) => `${key}=${value}\n`).join('');
}

export class FenceAgentBmc implements Bmc {
  readonly member: string;
  private readonly options: FenceAgentBmcOptions;
  private readonly command: readonly string[];

  constructor(options: FenceAgentBmcOptions, driver: FenceAgentDriverOptions = {}) {
    this.member = options.member;
    this.options = { ...options, options: { ...options.options } };
    this.command = driver.command ?? [];
    for (const key of Object.keys(options.options)) {
      if (RESERVED_FENCE_AGENT_KEYS.includes(key))
        throw new BmcError(options.member, 'open', 'refused', `fence agent option ${key} is set by the driver`);
      if (/[\r\n]/.test(options.options[key] ?? ''))
        throw new BmcError(options.member, 'open', 'refused', `fence agent option ${key} holds a line break`);
    }
  }

  async status(): Promise<PowerState> {
    const outcome = await this.execute('status');
    if (outcome.power === null) throw new BmcError(this.member, 'status', 'garbage', 'no power state in the answer');
    return outcome.power;
  }

  async on(): Promise<void> {
    await this.execute('on');
  }

  async off(): Promise<void> {
    await this.execute('off');
  }

  async cycle(): Promise<void> {
    await this.execute('cycle');
  }

  private async execute(operation: FenceAgentOperation): Promise<Extract<FenceAgentOutcome, { ok: true }>> {
    const password = await this.readPassword(operation);
    const stdin = fenceAgentStdin(this.options, operation, password);
    const run = await runAgent([...this.command, this.options.agent], stdin, this.options.timeoutMs);
    const outcome = interpretFenceAgent(this.options.agent, operation, run, password);
    if (!outcome.ok) throw new BmcError(this.member, operation, outcome.kind, outcome.detail);
    return outcome;
  }

  private async readPassword(operation: string): Promise<string> {
    let text: string;
    try {
      text = await readFile(this.options.passwordFile, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new BmcError(
        this.member,
        operation,
        'auth',
        `password file ${this.options.passwordFile} is not readable (${code})`,
      );
    }
    const password = text.replace(/\r?\n$/, '');
    // One line of stdin per option: a line break would end the password and start an option.
    if (/[\r\n\0]/.test(password) || password === '')
      throw new BmcError(
        this.member,
        operation,
        'auth',
        `password file ${this.options.passwordFile} must hold one non-empty line`,
      );
    return password;
  }
}

export class FenceAgentBmcFactory implements BmcFactory {
  private readonly members: ReadonlyMap<string, FenceAgentBmcOptions>;

  constructor(
    members: readonly FenceAgentBmcOptions[],
    private readonly driver: FenceAgentDriverOptions = {},
  ) {
    this.members = new Map(members.map((options) => [options.member, options]));
  }

  open(member: string): Bmc {
    const options = this.members.get(member);
    if (options === undefined) throw new BmcError(member, 'open', 'unreachable', 'no BMC configured for this member');
    return new FenceAgentBmc(options, this.driver);
  }
}

/**
 * Runs the agent in its own process group with `stdin` written to it; never rejects. At the
 * deadline the whole group is killed (an agent runs ipmitool, curl, ... under it) and the
 * result is returned then, without waiting for the processes to go.
 */
function runAgent(argv: readonly string[], stdin: string, timeoutMs: number): Promise<FenceAgentRun> {
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let done = false;
    const finish = (run: FenceAgentRun): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(run);
    };
    const child = spawn(file ?? '', args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is gone already
        }
      }
      finish({ stdout, stderr, exitCode: null, signal: 'SIGKILL', timedOut: true });
    }, timeoutMs);
    const collect = (into: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (into === 'stdout') stdout = (stdout + text).slice(0, MAX_OUTPUT_BYTES);
      else stderr = (stderr + text).slice(-MAX_OUTPUT_BYTES);
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.stdin.on('error', () => undefined); // an agent that exits without reading its stdin
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined)
        finish({ stdout, stderr, exitCode: null, signal: null, timedOut: false, spawnError: error.code ?? 'error' });
    });
    child.on('close', (code, signal) => finish({ stdout, stderr, exitCode: code, signal, timedOut: false }));
    child.stdin.end(stdin);
  });
}
