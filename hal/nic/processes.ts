/** The child processes a Linux NIC starts: spawned, tracked until they exit, waited for. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { NicError } from '../errors/nic-error.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Every child of one NIC, so that closing it can stop them all and wait for them. */
export class Children {
  private readonly live = new Set<ChildProcessWithoutNullStreams>();
  private stopped = false;

  constructor(private readonly nic: string) {}

  get closed(): boolean {
    return this.stopped;
  }

  /** Starts `command` with stdin closed; throws NicError once the NIC is closed. */
  spawn(operation: string, address: string, command: string, args: string[]): ChildProcessWithoutNullStreams {
    if (this.stopped) {
      throw new NicError(this.nic, operation, 'closed', address);
    }
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    this.track(child);
    return child;
  }

  track(child: ChildProcessWithoutNullStreams): void {
    this.live.add(child);
    child.on('close', () => this.live.delete(child));
  }

  /** SIGTERM to every child but `spared` (it ends by itself); resolves when all have exited. */
  close(spared: ChildProcessWithoutNullStreams | null, graceMs: number): Promise<void> {
    this.stopped = true;
    const exits = [...this.live].map((child) => {
      if (child !== spared) {
        child.kill('SIGTERM');
      }
      return waitExit(child, graceMs);
    });
    return Promise.all(exits).then(() => undefined);
  }
}

/** Resolves when the child has exited and its output is read; SIGKILLs it after `timeoutMs`. */
export function waitExit(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    };
    if (child.exitCode !== null || child.signalCode !== null) {
      if (child.stdout.readableEnded && child.stderr.readableEnded) {
        done(child.exitCode, child.signalCode);
        return;
      }
    }
    child.once('close', done);
    child.once('error', (error) => {
      stderr += error.message;
      if (child.pid === undefined) {
        done(null, null);
      }
    });
  });
}

export function failureOf(exit: Exit): string {
  const detail = cleanStderr(exit.stderr);
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exit status ${exit.code ?? 'unknown'}`;
  return detail === '' ? how : `${how}: ${detail}`;
}

/** A tool's stderr as one line, without ip's "Command failed" bookkeeping. */
export function cleanStderr(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('Command failed'))
    .join('; ');
}

/** How long the trial `chrt -f N true` may take before the children run without it. */
const REALTIME_TRIAL_TIMEOUT_MS = 2000;

/**
 * The argv prefix that starts a long-lived child at SCHED_FIFO `priority` (`chrt -f N`), when
 * this process may: a trial `chrt -f N true` must succeed (util-linux chrt on PATH, and
 * CAP_SYS_NICE, which an agent running at `clock.realtime` has). [] otherwise, and for 0.
 */
export async function realtimePrefix(priority: number): Promise<string[]> {
  if (!Number.isInteger(priority) || priority < 1 || priority > 99 || !onPath('chrt')) return [];
  const prefix = ['chrt', '-f', String(priority)];
  const trial = spawn('chrt', [...prefix.slice(1), 'true'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exit = await waitExit(trial, REALTIME_TRIAL_TIMEOUT_MS);
  return exit.code === 0 ? prefix : [];
}

export function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
