/**
 * The lease enforcer process: `node enforcer-main.js IFACE CIDR`. Reads `hold US` (a
 * deadline on CLOCK_MONOTONIC, in microseconds) and `disarm` lines on stdin; at the deadline
 * it removes CIDR from IFACE with `ip -4 addr del` and prints `expired LATE_US DEADLINE_US`.
 * It is a process of its own so that a hung agent (SIGSTOP, a stalled event loop) cannot keep the
 * address past its lease; when its stdin closes (the agent died) the armed deadline still
 * fires, then it exits. SIGTERM, SIGINT or SIGHUP while armed: the address goes at once.
 * `hold SLOT US` and `disarm SLOT` (SLOT 0 or 1) are two writers' deadlines, of which the
 * latest armed one is enforced (`lease.thread: twins`; hotspare-enforcer.c says why).
 */
import { spawnSync } from 'node:child_process';

const [iface, cidr] = process.argv.slice(2);
if (iface === undefined || cidr === undefined) {
  process.stderr.write('usage: enforcer-main IFACE CIDR\n');
  process.exit(2);
}

let deadlineUs: number | null = null;
/** Each writer's deadline (null: disarmed); `deadlineUs` is the latest of them. */
const slots: Array<number | null> = [null, null];
const latest = (): number | null =>
  slots.reduce<number | null>((a, b) => (b === null ? a : a === null ? b : Math.max(a, b)), null);
let timer: NodeJS.Timeout | null = null;
let closed = false;

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

function arm(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  if (deadlineUs === null) {
    if (closed) process.exit(0);
    return;
  }
  const waitMs = Math.max(0, Math.floor((deadlineUs - nowUs()) / 1000));
  timer = setTimeout(fire, waitMs);
}

function fire(): void {
  timer = null;
  if (deadlineUs === null) return;
  // setTimeout may wake a little early on a millisecond boundary: wait out the rest.
  if (nowUs() < deadlineUs) return arm();
  const deadline = deadlineUs;
  const late = nowUs() - deadline;
  deadlineUs = null;
  slots.fill(null);
  const r = spawnSync('ip', ['-4', 'addr', 'del', cidr ?? '', 'dev', iface ?? ''], { encoding: 'utf8' });
  // Exit status 2 with "Cannot assign requested address": it was not there; nothing to drop.
  if (r.status === 0) process.stdout.write(`expired ${late} ${deadline}\n`);
  if (closed) process.exit(0);
}

let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  let nl: number;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    const hold = /^hold (?:([01]) )?(\d+)$/.exec(line);
    const disarm = /^disarm(?: ([01]))?$/.exec(line);
    if (hold !== null) slots[Number(hold[1] ?? 0)] = Number(hold[2]);
    else if (disarm !== null) slots[Number(disarm[1] ?? 0)] = null;
    else {
      process.stderr.write(`hotspare lease enforcer: ignoring ${JSON.stringify(line.slice(0, 40))}\n`);
      continue;
    }
    deadlineUs = latest();
  }
  arm();
});
// Asked to end (a service manager stopping what the agent left behind): it can no longer
// enforce an armed deadline, so it drops the address at once instead.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (deadlineUs !== null) {
      deadlineUs = nowUs();
      fire();
    }
    process.exit(0);
  });
}

process.stdin.on('end', () => {
  closed = true;
  arm();
});
