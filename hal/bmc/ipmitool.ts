/**
 * BMC driver that runs `ipmitool` once per operation.
 *
 * - The password is read by ipmitool from `passwordFile` (`-f`); this module never reads it,
 *   so it can appear on no command line, in no log and in no error.
 * - Every run has its own kill timer (`timeoutMs`); when it fires the error kind is `timeout`.
 * - `off`/`on`/`cycle` resolve when the BMC acknowledged the command; they do not poll the
 *   power state afterwards (the caller confirms with `status`).
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { BmcError } from '../errors/bmc-error.js';
import type { Bmc, BmcFactory, PowerState, SystemIdentity } from './index.js';
import { interpretIpmitool } from './ipmitool-output.js';
import type { IpmitoolOperation, IpmitoolOutcome, IpmitoolRun } from './ipmitool-output.js';

export interface IpmitoolBmcOptions {
  member: string;
  host: string;
  port: number;
  username: string;
  /** File holding the password (mode 0600); passed to ipmitool with `-f`. */
  passwordFile: string;
  interface: 'lanplus' | 'lan';
  /** RMCP+ cipher suite (`-C`), used with `lanplus` only. 3 for ipmi_sim. */
  cipherSuite: number;
  /** Upper bound for one operation; the ipmitool process is killed when it is reached. */
  timeoutMs: number;
  /** ipmitool's own retries (`-R`); default 1. */
  retries?: number;
}

export interface IpmitoolDriverOptions {
  /**
   * Command that runs ipmitool, as argv prefix. Default `['ipmitool']`. Tests use it to run
   * ipmitool inside a network namespace (`['ip', 'netns', 'exec', NS, 'ipmitool']`) or to
   * substitute a fake.
   */
  command?: readonly string[];
}

const DEFAULT_RETRIES = 1;
const MAX_OUTPUT_BYTES = 64 * 1024;

/** ipmitool arguments for one operation (no password: only the file's path). */
export function ipmitoolArgs(options: IpmitoolBmcOptions, operation: IpmitoolOperation): string[] {
  const retries = options.retries ?? DEFAULT_RETRIES;
  // ipmitool's own per-try timeout, whole seconds, at least 1, leaving ipmitool half a second
  // to give up by itself before the kill timer (the real bound) fires. ipmitool 1.8.19 with
  // -N 1 -R 1 gives up after about 2.1 s, so with timeoutMs <= 2500 a silent BMC ends as `timeout`.
  const perTrySeconds = Math.max(1, Math.floor((options.timeoutMs - 500) / 1000 / (retries + 1)));
  const args = ['-v', '-I', options.interface];
  if (options.interface === 'lanplus') {
    args.push('-C', String(options.cipherSuite));
  }
  args.push(
    '-H',
    options.host,
    '-p',
    String(options.port),
    '-U',
    options.username,
    '-f',
    options.passwordFile,
    '-N',
    String(perTrySeconds),
    '-R',
    String(retries),
    'chassis',
    'power',
    operation,
  );
  return args;
}

export class IpmitoolBmc implements Bmc {
  readonly member: string;
  private readonly options: IpmitoolBmcOptions;
  private readonly command: readonly string[];

  constructor(options: IpmitoolBmcOptions, driver: IpmitoolDriverOptions = {}) {
    this.member = options.member;
    this.options = { ...options };
    this.command = driver.command ?? ['ipmitool'];
    if (this.command.length === 0) {
      throw new BmcError(options.member, 'open', 'unreachable', 'empty ipmitool command');
    }
  }

  async status(): Promise<PowerState> {
    const outcome = await this.execute('status');
    if (outcome.power === null) {
      throw new BmcError(this.member, 'status', 'garbage', 'no power state in the answer');
    }
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

  /** `raw 0x06 0x37` (Get System GUID): the 16 bytes as ipmitool prints them, in wire order. */
  async identity(): Promise<SystemIdentity> {
    const args = [...ipmitoolArgs(this.options, 'status').slice(0, -3), 'raw', '0x06', '0x37'].filter(
      (a) => a !== '-v',
    );
    const run = await runIpmitool(this.command, args, this.options.timeoutMs);
    if (run.exitCode === 0) {
      // Only lines of hex pairs: the answer, which ipmitool may wrap over lines.
      const bytes = run.stdout
        .split('\n')
        .filter((line) => /^\s*([0-9a-f]{2}\s*)+$/i.test(line))
        .flatMap((line) => line.trim().split(/\s+/))
        .map((b) => parseInt(b, 16));
      if (bytes.length === 16) return { source: 'ipmi-guid', bytes: Uint8Array.from(bytes) };
      throw new BmcError(this.member, 'identity', 'garbage', `Get System GUID answered ${bytes.length} bytes, not 16`);
    }
    const outcome = interpretIpmitool('status', run);
    throw new BmcError(
      this.member,
      'identity',
      outcome.ok ? 'garbage' : outcome.kind,
      outcome.ok ? 'no GUID in the answer' : outcome.detail,
    );
  }

  private async execute(operation: IpmitoolOperation): Promise<Extract<IpmitoolOutcome, { ok: true }>> {
    try {
      await access(this.options.passwordFile, constants.R_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new BmcError(
        this.member,
        operation,
        'auth',
        `password file ${this.options.passwordFile} is not readable (${code})`,
      );
    }
    const run = await runIpmitool(this.command, ipmitoolArgs(this.options, operation), this.options.timeoutMs);
    const outcome = interpretIpmitool(operation, run);
    if (!outcome.ok) {
      throw new BmcError(this.member, operation, outcome.kind, outcome.detail);
    }
    return outcome;
  }
}

export class IpmitoolBmcFactory implements BmcFactory {
  private readonly members: ReadonlyMap<string, IpmitoolBmcOptions>;
  private readonly driver: IpmitoolDriverOptions;

  constructor(members: readonly IpmitoolBmcOptions[], driver: IpmitoolDriverOptions = {}) {
    this.members = new Map(members.map((options) => [options.member, options]));
    this.driver = driver;
  }

  open(member: string): Bmc {
    const options = this.members.get(member);
    if (options === undefined) {
      throw new BmcError(member, 'open', 'unreachable', 'no BMC configured for this member');
    }
    return new IpmitoolBmc(options, this.driver);
  }
}

/** Runs ipmitool with a kill timer; never rejects. */
function runIpmitool(command: readonly string[], args: readonly string[], timeoutMs: number): Promise<IpmitoolRun> {
  const [file, ...prefix] = command;
  return new Promise((resolve) => {
    let timedOut = false;
    const child = execFile(
      file ?? 'ipmitool',
      [...prefix, ...args],
      { encoding: 'utf8', maxBuffer: MAX_OUTPUT_BYTES, windowsHide: true },
      (error, stdout, stderr) => {
        clearTimeout(timer);
        const run: IpmitoolRun = { stdout, stderr, exitCode: 0, signal: null, timedOut };
        if (error !== null) {
          const code: unknown = (error as NodeJS.ErrnoException & { code?: unknown }).code;
          run.exitCode = typeof code === 'number' ? code : null;
          run.signal = error.signal ?? null;
          if (typeof code === 'string' && error.signal == null && child.pid === undefined) {
            run.spawnError = code;
          } else if (typeof code === 'string' && run.signal === null) {
            // maxBuffer exceeded and similar: the output is unusable.
            run.stderr = `${stderr}\n(${code})`;
          }
        }
        resolve(run);
      },
    );
    child.stdin?.end();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
  });
}
