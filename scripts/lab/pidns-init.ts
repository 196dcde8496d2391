/**
 * A minimal init for a lab server's PID namespace: `node pidns-init.js PROGRAM ARGS...`.
 *
 * Without it the agent would be the namespace's PID 1, and a SIGKILL of the agent alone (the
 * fault campaign's "agent crash") would make the kernel kill everything the agent started,
 * its lease enforcer included, which on a real server outlives the agent and drops the
 * primary address when the lease runs out. With this init the agent is an ordinary process:
 * killing it leaves its other processes running, as on a real server, while killing this
 * init (power loss) still takes down the whole namespace.
 *
 * It forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 to the program. After the program
 * exited, as a service manager stopping the agent's unit would, it kills the program's other
 * processes (`ip monitor` and the like, re-parented to it) except lease enforcers, which are
 * meant to outlive the agent and exit by themselves once their deadline fired; it waits for
 * those, at most ORPHAN_WAIT_MS, then exits with the program's status (128 + signal number
 * when it was killed by a signal, as a shell reports it).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { readFileSync, readdirSync } from 'node:fs';

const ORPHAN_WAIT_MS = 10_000;
const POLL_MS = 20;

const [program, ...args] = process.argv.slice(2);
if (program === undefined) {
  process.stderr.write('usage: pidns-init PROGRAM [ARGS...]\n');
  process.exit(2);
}

/** This process's PID as the host's /proc numbers it (the namespace sees it as 1). */
function hostPid(): number {
  return Number(readFileSync('/proc/self/stat', 'utf8').split(' ')[0]);
}

/** Whether `pid` runs a lease enforcer: the compiled `hotspare-enforcer` or the Node `enforcer-main`. */
function isEnforcer(pid: number): boolean {
  try {
    const argv0AndScript = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 2);
    return argv0AndScript.some((arg) => arg.endsWith('/hotspare-enforcer') || arg.includes('enforcer-main'));
  } catch {
    return false;
  }
}

/**
 * The PID this namespace knows a process by (the last `NSpid` field): /proc here is the
 * host's, whose numbers mean other processes inside the namespace. Null when unknown.
 */
function namespacePid(hostPid: number): number | null {
  try {
    const line = /^NSpid:\s*(.+)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'));
    const local = Number(line?.[1]?.trim().split(/\s+/).at(-1));
    return Number.isInteger(local) && local > 1 ? local : null;
  } catch {
    return null;
  }
}

/** Live (not zombie) processes whose parent is `parent`, from the host's /proc. */
function liveChildren(parent: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === parent && rest[0] !== 'Z') found.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found;
}

const self = hostPid();
const child = spawn(program, args, { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}
child.on('error', (error) => {
  process.stderr.write(`pidns-init: ${program}: ${error.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  const status = signal === null ? (code ?? 1) : 128 + (constants.signals[signal] ?? 0);
  const deadline = Date.now() + ORPHAN_WAIT_MS;
  const poll = (): void => {
    const left = liveChildren(self);
    for (const pid of left) {
      const local = isEnforcer(pid) ? null : namespacePid(pid);
      if (local === null) continue;
      try {
        process.kill(local, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    if (left.length === 0) process.exit(status);
    if (Date.now() >= deadline) process.exit(status);
    setTimeout(poll, POLL_MS);
  };
  poll();
});
