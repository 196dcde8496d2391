import { spawn } from 'node:child_process';
import type { CommandResult, CommandRunner } from '../agent/index.js';

const TAIL = 400;

/** Runs hooks and health checks with /bin/sh, with a time limit; never throws. */
export class ShellCommands implements CommandRunner {
  run(command: string, env: Record<string, string>, timeoutMs: number): Promise<CommandResult> {
    return new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const collect = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-TAIL);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        resolve({ ok: false, status: 'spawn-failed', output: error.message });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const status = timedOut ? 'timeout' : code !== null ? String(code) : `signal ${signal ?? '?'}`;
        resolve({ ok: !timedOut && code === 0, status, output: output.trim() });
      });
    });
  }
}
