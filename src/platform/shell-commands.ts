import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { CommandResult, CommandRunner } from '../agent/index.js';

/** How much of stdout and stderr is kept for the log (the tail). */
const TAIL = 400;
/**
 * After the shell exits, how long to wait for the rest of its output before resolving with
 * what was read. Output already written sits in the pipe and arrives at once; a wait longer
 * than this means a background child still holds the pipe and may never close it.
 */
const DRAIN_MS = 50;

/**
 * Runs hooks and health checks with /bin/sh, with a time limit; never throws.
 *
 * Each command runs in its own process group (the shell is its leader), so the limit and
 * the cleanup reach everything the command started, not only the shell:
 * - at the deadline the whole group is killed and the result is `timeout` at once, without
 *   waiting for pipes a grandchild may hold open;
 * - when the shell exits, the command is done: its exit code is the result, with the output
 *   read so far, and whatever it left running in its group (`sleep 30 &`) is killed. A hook
 *   that must leave a service running starts it through the service manager (or `setsid`).
 */
export class ShellCommands implements CommandRunner {
  run(command: string, env: Record<string, string>, timeoutMs: number): Promise<CommandResult> {
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn('/bin/sh', ['-c', command], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
      } catch (error) {
        resolve({ ok: false, status: 'spawn-failed', output: error instanceof Error ? error.message : String(error) });
        return;
      }
      runChild(child, timeoutMs, resolve);
    });
  }
}

/** Collects the child's output and settles once: error, shell exit, or the deadline. */
function runChild(child: ChildProcess, timeoutMs: number, resolve: (result: CommandResult) => void): void {
  let output = '';
  let settled = false;
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-TAIL);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const finish = (result: CommandResult): void => {
    if (settled) return;
    settled = true;
    clearTimeout(deadline);
    killGroup(child);
    child.stdout?.destroy();
    child.stderr?.destroy();
    resolve({ ...result, output: result.output.trim() });
  };
  // Node timers run on the monotonic clock: a wall-clock step neither shortens nor stretches the limit.
  const deadline = setTimeout(() => finish({ ok: false, status: 'timeout', output }), timeoutMs);
  child.on('error', (error) => finish({ ok: false, status: 'spawn-failed', output: error.message }));
  child.on('exit', (code, signal) => {
    const status = code !== null ? String(code) : `signal ${signal ?? '?'}`;
    const done = (): void => finish({ ok: code === 0, status, output });
    // 'close' follows once the pipes are drained and closed; a background child holding
    // them open must not hold the result back, so wait only briefly for it.
    const drain = setTimeout(done, DRAIN_MS);
    child.on('close', () => {
      clearTimeout(drain);
      done();
    });
  });
}

/** SIGKILL to the child's whole process group; a group already gone (ESRCH) is fine. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // No member left: the command and everything it started have exited.
  }
}
