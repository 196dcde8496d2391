import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LeaseEnforcer } from './index.js';

/** The compiled enforcer (hal/lease/hotspare-enforcer.c, built by `make build`). */
export const NATIVE_ENFORCER = fileURLToPath(new URL('../../bin/hotspare-enforcer', import.meta.url));
/** The same protocol in Node (./enforcer-main.ts), used when the compiled one is missing. */
export const NODE_ENFORCER = fileURLToPath(new URL('./enforcer-main.js', import.meta.url));

/** The command that runs an enforcer for `cidr` on `iface`: the compiled one when built. */
export function enforcerCommand(iface: string, cidr: string, native = NATIVE_ENFORCER): string[] {
  return existsSync(native) ? [native, iface, cidr] : [process.execPath, NODE_ENFORCER, iface, cidr];
}

/**
 * The Linux lease enforcer: one long-lived child process in this agent's network namespace,
 * told each new deadline over a pipe. It runs on in its own process when the agent hangs or
 * dies. The compiled one wakes from a timerfd at SCHED_FIFO with its memory locked and
 * deletes the address through netlink; the Node one (when the compiled one was not built) is
 * neither real-time nor memory-locked and runs `ip`, so `lease.drop_ms` must cover more
 * (README "Takeover gates").
 */
export class LinuxLeaseEnforcer implements LeaseEnforcer {
  private readonly child: ChildProcess;
  private readonly listeners: Array<(lateUs: number) => void> = [];

  constructor(iface: string, cidr: string, onError: (message: string) => void) {
    const [command, ...args] = enforcerCommand(iface, cidr);
    // In the agent's process group: a SIGKILL of the agent alone leaves it running (it fires
    // the armed deadline), while the end of the whole server (its group, its cgroup) ends it.
    this.child = spawn(command ?? process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
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
