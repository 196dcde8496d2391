import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LeaseEnforcer } from './index.js';

/**
 * The Linux lease enforcer: one long-lived child process (./enforcer-main.ts) in this
 * agent's network namespace, told each new deadline over a pipe. It runs on in its own
 * process when the agent hangs or dies. It is a Node process with an `ip` call at expiry,
 * neither real-time nor memory-locked: `lease.drop_ms` must cover its wake-up and that call
 * (README "Takeover gates").
 */
export class LinuxLeaseEnforcer implements LeaseEnforcer {
  private readonly child: ChildProcess;
  private readonly listeners: Array<(lateUs: number) => void> = [];

  constructor(iface: string, cidr: string, onError: (message: string) => void) {
    const main = fileURLToPath(new URL('./enforcer-main.js', import.meta.url));
    // In the agent's process group: a SIGKILL of the agent alone leaves it running (it fires
    // the armed deadline), while the end of the whole server (its group, its cgroup) ends it.
    this.child = spawn(process.execPath, [main, iface, cidr], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('error', (error) => onError(`lease enforcer: ${error.message}`));
    this.child.on('exit', (code, signal) => {
      if (code !== 0) onError(`lease enforcer exited (${signal ?? `status ${code}`})`);
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        const m = /^expired (\d+)$/.exec(line.trim());
        if (m !== null) for (const l of [...this.listeners]) l(Number(m[1]));
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => onError(chunk.toString('utf8').trim()));
  }

  hold(untilUs: number): void {
    this.child.stdin?.write(`hold ${Math.round(untilUs)}\n`);
  }

  disarm(): void {
    this.child.stdin?.write('disarm\n');
  }

  onExpired(listener: (lateUs: number) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.listeners.length = 0;
    // End of input: the armed deadline (if any) still fires, then the enforcer exits.
    this.child.stdin?.end();
    this.child.unref();
  }
}
