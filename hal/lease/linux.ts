import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TimerBinding } from '../clock/native/binding.js';
import type { LeaseEnforcer } from './index.js';

/**
 * An enforcer's command channel in the timer addon (`lease.thread: twins`): one pipe whose
 * write end every thread of the process reaches by `id`, so that two lease threads each
 * give the one enforcer their deadline in a slot of their own (slot 0: the thread that
 * runs the enforcer; slot 1: its twin, through `ChannelEnforcer`).
 */
export interface EnforcerChannel {
  binding: Pick<TimerBinding, 'channelReader' | 'channelSend' | 'channelClose'>;
  id: number;
}

/**
 * Writes one command of `slot` to the channel. No enforcer started on it yet (the twin that
 * starts one is still starting: the command is kept and read first by that enforcer), EPIPE
 * (the enforcer died: the one started next reads this slot's last command first) and a
 * channel already closed (the agent is stopping: the thread that runs the enforcer closed it
 * before this twin heard the stop) are not errors; any other failure goes to `onError`.
 */
function sendOnChannel(channel: EnforcerChannel, slot: number, line: string, onError: (m: string) => void): void {
  try {
    channel.binding.channelSend(channel.id, slot, line);
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    const message = error instanceof Error ? error.message : String(error);
    if (code !== 'EPIPE' && !message.includes('not an open channel')) onError(`lease enforcer: ${message}`);
  }
}

/** The compiled enforcer (hal/lease/hotspare-enforcer.c, built by `make build`). */
export const NATIVE_ENFORCER = fileURLToPath(new URL('../../bin/hotspare-enforcer', import.meta.url));
/** The same protocol in Node (./enforcer-main.ts), used when the compiled one is missing. */
export const NODE_ENFORCER = fileURLToPath(new URL('./enforcer-main.js', import.meta.url));

/** The command that runs an enforcer for `cidr` on `iface`: the compiled one when built. */
export function enforcerCommand(iface: string, cidr: string, native = NATIVE_ENFORCER): string[] {
  return existsSync(native) ? [native, iface, cidr] : [process.execPath, NODE_ENFORCER, iface, cidr];
}

/** An enforcer started again that dies within this long is started again only after it. */
const RESPAWN_GAP_MS = 1000;

/**
 * The Linux lease enforcer: one long-lived child process in this agent's network namespace,
 * told each new deadline over a pipe. It runs on in its own process when the agent hangs or
 * dies. The compiled one wakes from a timerfd at SCHED_FIFO with its memory locked and
 * deletes the address through netlink; the Node one (when the compiled one was not built) is
 * neither real-time nor memory-locked and runs `ip`, so `lease.drop_ms` must cover more
 * (README "Takeover gates").
 *
 * An enforcer that ends while the agent still uses it (killed by an operator or the OOM
 * killer) is started again at once and told the last deadline (or disarm) again, so the
 * address never stays without one for longer than the restart; one that keeps dying is
 * started at most once a second (each exit is reported through `onError`).
 */
export class LinuxLeaseEnforcer implements LeaseEnforcer {
  private child: ChildProcess;
  private readonly listeners: Array<(lateUs: number, deadlineUs: number | null) => void> = [];
  /** The last command sent (`hold US` or `disarm`), for an enforcer started again. */
  private last: string | null = null;
  private closed = false;
  /** When it was last started again (not the first start): one that dies again soon waits. */
  private respawnedAtMs = -Infinity;
  private respawn: NodeJS.Timeout | null = null;
  private readonly command: string[];

  constructor(
    iface: string,
    cidr: string,
    private readonly onError: (message: string) => void,
    command: string[] = enforcerCommand(iface, cidr),
    private readonly channel: EnforcerChannel | null = null,
  ) {
    this.command = command;
    this.child = this.start();
  }

  /** The PID of the enforcer started last (it may have exited and not be started again yet). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  hold(untilUs: number): void {
    this.send(`hold ${Math.round(untilUs)}`);
  }

  disarm(): void {
    this.send('disarm');
  }

  onExpired(listener: (lateUs: number, deadlineUs: number | null) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.closed = true;
    this.listeners.length = 0;
    if (this.respawn !== null) clearTimeout(this.respawn);
    this.respawn = null;
    // End of input: the armed deadline (if any) still fires, then the enforcer exits.
    if (this.channel !== null) this.channel.binding.channelClose(this.channel.id);
    else this.child.stdin?.end();
    this.child.unref();
  }

  private send(line: string): void {
    this.last = line;
    if (this.channel !== null) sendOnChannel(this.channel, 0, line, this.onError);
    else this.child.stdin?.write(`${line}\n`);
  }

  private start(): ChildProcess {
    const [command, ...args] = this.command;
    // In the agent's process group: a SIGKILL of the agent alone leaves it running (it fires
    // the armed deadline), while the end of the whole server (its group, its cgroup) ends it.
    const reader = this.channel === null ? null : this.channel.binding.channelReader(this.channel.id);
    let child: ChildProcess;
    try {
      child = spawn(command ?? process.execPath, args, { stdio: [reader ?? 'pipe', 'pipe', 'pipe'] });
    } finally {
      // The child has its own copy; the channel's write end stays the only one here.
      if (reader !== null) closeSync(reader);
    }
    // A write to an enforcer that just died fails with EPIPE; its exit handler starts another.
    child.stdin?.on('error', () => undefined);
    child.on('error', (error) => this.onError(`lease enforcer: ${error.message}`));
    child.on('exit', (code, signal) => {
      if (this.closed) {
        if (code !== 0) this.onError(`lease enforcer exited (${signal ?? `status ${code}`})`);
        return;
      }
      const waitMs = Math.max(0, Math.ceil(this.respawnedAtMs + RESPAWN_GAP_MS - Date.now()));
      this.onError(
        `lease enforcer exited (${signal ?? `status ${code}`}) while in use: starting it again${waitMs > 0 ? ` in ${waitMs} ms` : ''}${this.last === null ? '' : `, with its last command (${this.last.split(' ')[0]})`}`,
      );
      this.respawn = setTimeout(() => {
        this.respawn = null;
        if (this.closed) return;
        this.respawnedAtMs = Date.now();
        this.child = this.start();
        // A channel's new pipe already holds each slot's last command.
        if (this.last !== null && this.channel === null) this.child.stdin?.write(`${this.last}\n`);
      }, waitMs);
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        // `expired LATE_US DEADLINE_US`; an enforcer of before the deadline was added says only LATE_US.
        const m = /^expired (\d+)(?: (\d+))?$/.exec(line.trim());
        if (m !== null) for (const l of [...this.listeners]) l(Number(m[1]), m[2] === undefined ? null : Number(m[2]));
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => this.onError(chunk.toString('utf8').trim()));
    return child;
  }
}

/**
 * The twin lease thread's side of an enforcer another thread runs (`lease.thread: twins`):
 * its deadlines go into slot 1 of the channel, and the deletions the enforcer reports (to
 * the thread that runs it) are passed on through `expired`.
 */
export class ChannelEnforcer implements LeaseEnforcer {
  private readonly listeners: Array<(lateUs: number, deadlineUs: number | null) => void> = [];

  constructor(
    private readonly channel: EnforcerChannel,
    private readonly onError: (message: string) => void,
  ) {}

  hold(untilUs: number): void {
    sendOnChannel(this.channel, 1, `hold 1 ${Math.round(untilUs)}`, this.onError);
  }

  disarm(): void {
    sendOnChannel(this.channel, 1, 'disarm 1', this.onError);
  }

  onExpired(listener: (lateUs: number, deadlineUs: number | null) => void): void {
    this.listeners.push(listener);
  }

  /** The enforcer deleted the address at `deadlineUs` (reported to the thread that runs it). */
  expired(lateUs: number, deadlineUs: number | null): void {
    for (const l of [...this.listeners]) l(lateUs, deadlineUs);
  }

  /** Nothing to end: the enforcer is the other thread's, and a deadline armed here still fires. */
  close(): void {
    this.listeners.length = 0;
  }
}
