/**
 * Addresses through iproute2: one long-lived `ip -json -force -batch -` child per NIC. Each
 * request writes its command lines followed by `address show dev IF`, and success is judged
 * on that real state, since batch mode does not report per-line success. No fork/exec per
 * request (README "Benchmarks" has what a spawned `ip` costs).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cleanStderr } from './processes.js';

const BATCH_TIMEOUT_MS = 5000;

export interface HeldAddress {
  ip: string;
  prefix: number;
}

/**
 * The `ip -json -force -batch -` child. Requests run one at a time. Each request is a few
 * command lines of which only the last prints (an `address show`: one JSON line on stdout).
 * Batch mode reports a failed line only on stderr, as "Error: ..." then "Command failed -:N"
 * with N the line number, which we count: the request ends with the stdout line, or with the
 * failure of its last line. (A `link show` line must not be sent: it leaves ip's address
 * filter in a state where later `address show` lines print no `addr_info`.)
 */
export class IpBatch {
  child: ChildProcessWithoutNullStreams | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private stdoutPending = '';
  private stderr = '';
  private linesWritten = 0;
  private readonly lines: string[] = [];
  private readonly failedLines = new Set<number>();
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private closed = false;

  /**
   * `prefix`: an argv put before `ip` (`chrt -f N`, see realtimePrefix), so the child runs
   * at the agent's real-time priority; [] runs it as is.
   */
  constructor(
    private readonly track: (child: ChildProcessWithoutNullStreams) => void,
    private readonly prefix: readonly string[] = [],
  ) {}

  /** Runs `commands`; resolves with the JSON printed by the last one, and stderr meanwhile. */
  run(commands: string[]): Promise<{ output: unknown; stderr: string }> {
    const result = this.queue.then(() => this.exclusive(commands));
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.closed = true;
    this.child?.stdin.end();
  }

  /** Kills the child (after the request in flight); the next request starts a new one. */
  restart(): void {
    const child = this.child;
    if (child !== null) {
      this.fail(child, new Error('restarted'));
    }
  }

  private async exclusive(commands: string[]): Promise<{ output: unknown; stderr: string }> {
    if (this.closed) {
      throw new Error('closed');
    }
    const child = this.child ?? this.start();
    this.stderr = '';
    this.lines.length = 0;
    this.failedLines.clear();
    this.linesWritten += commands.length;
    const last = this.linesWritten;
    child.stdin.write(`${commands.join('\n')}\n`);
    const timer = setTimeout(
      () => this.fail(child, new Error(`ip -batch gave no answer within ${BATCH_TIMEOUT_MS} ms`)),
      BATCH_TIMEOUT_MS,
    );
    try {
      const line = await this.next(last);
      // Error lines of earlier commands go to stderr before the answer, but another pipe.
      await new Promise((resolve) => setImmediate(resolve));
      const detail = cleanStderr(this.stderr);
      if (line === null) {
        throw new Error(detail === '' ? 'command failed' : detail);
      }
      return { output: parseJson(line), stderr: detail };
    } finally {
      clearTimeout(timer);
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    const argv = [...this.prefix, 'ip', '-json', '-force', '-batch', '-'];
    const child = spawn(argv[0] ?? 'ip', argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.track(child);
    this.stdoutPending = '';
    this.linesWritten = 0;
    this.failure = null;
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child !== child) {
        return;
      }
      this.stdoutPending += chunk.toString('utf8');
      const lines = this.stdoutPending.split('\n');
      this.stdoutPending = lines.pop() ?? '';
      this.lines.push(...lines);
      this.notify();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.child !== child) {
        return;
      }
      this.stderr += chunk.toString('utf8');
      for (const match of this.stderr.matchAll(/Command failed -:(\d+)/g)) {
        this.failedLines.add(Number(match[1]));
      }
      this.notify();
    });
    child.on('error', (error) => this.fail(child, new Error(`cannot run ip: ${error.message}`)));
    child.on('close', (code, signal) =>
      this.fail(
        child,
        new Error(`ip -batch exited (${signal ?? `status ${code}`}) ${cleanStderr(this.stderr)}`.trim()),
      ),
    );
    return child;
  }

  /** The answer line, or null when line number `last` failed. */
  private next(last: number): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = this.lines.shift();
        if (line !== undefined) {
          resolve(line);
        } else if (this.failedLines.has(last)) {
          resolve(null);
        } else if (this.failure !== null) {
          reject(this.failure);
        } else {
          this.wake = check;
        }
      };
      check();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** The child is dead or stuck: fail the request in flight; the next one starts a new child. */
  private fail(child: ChildProcessWithoutNullStreams, error: Error): void {
    if (this.child !== child) {
      return;
    }
    this.child = null;
    this.lines.length = 0;
    this.failure = error;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    this.notify();
  }
}

export interface InterfaceState {
  name: string;
  addresses: HeldAddress[];
}

/**
 * The interfaces and IPv4 addresses in one `ip -json address show` answer; null when it is
 * not one (every entry of a real answer has `ifname` and an `addr_info` array).
 */
export function parseAddressShow(value: unknown): InterfaceState[] | null {
  if (!Array.isArray(value)) {
    return null;
  }
  const result: InterfaceState[] = [];
  for (const entry of value) {
    if (typeof entry !== 'object' || entry === null) {
      return null;
    }
    const name: unknown = Reflect.get(entry, 'ifname');
    const info: unknown = Reflect.get(entry, 'addr_info');
    if (typeof name !== 'string' || !Array.isArray(info)) {
      return null;
    }
    const addresses: HeldAddress[] = [];
    for (const item of info) {
      if (typeof item !== 'object' || item === null) {
        return null;
      }
      const family: unknown = Reflect.get(item, 'family');
      const local: unknown = Reflect.get(item, 'local');
      const prefix: unknown = Reflect.get(item, 'prefixlen');
      if (family === 'inet' && typeof local === 'string' && typeof prefix === 'number') {
        addresses.push({ ip: local, prefix });
      }
    }
    result.push({ name, addresses });
  }
  return result;
}

function parseJson(line: string): unknown {
  try {
    const value: unknown = JSON.parse(line);
    return value;
  } catch {
    return null;
  }
}
