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
 * exited it stays until no other live process of the namespace is its child (orphans are
 * re-parented to it), at most ORPHAN_WAIT_MS, then exits with the program's status (128 +
 * signal number when it was killed by a signal, as a shell reports it).
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
    if (liveChildren(self).length === 0 || Date.now() >= deadline) process.exit(status);
    setTimeout(poll, POLL_MS);
  };
  poll();
});
