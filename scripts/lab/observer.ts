import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ManagedProcess, ProcessGroup } from './children.js';
import { monoUs, sleep } from './exec.js';
import { largestGap, ttlChanges } from './observer-stats.js';
import type { Gap, Reply } from './observer-stats.js';
import { observerMain } from './paths.js';

/** Keeps this many replies in memory (about 10 minutes at 1 ms); the JSONL file has them all. */
const MAX_REPLIES = 600_000;

/** Harness side of the observer: starts it in the observer namespace and collects its replies. */
export class Observer {
  readonly replies: Reply[] = [];
  sent = 0;
  sendErrors = 0;
  private readonly process: ManagedProcess;
  private readonly file: WriteStream;
  private readyResolve: (() => void) | null = null;
  readonly ready: Promise<void>;

  constructor(group: ProcessGroup, netns: string, target: string, jsonlFile: string, intervalMs = 1) {
    this.file = createWriteStream(jsonlFile, { flags: 'a', mode: 0o600 });
    this.ready = new Promise((resolve) => {
      this.readyResolve = resolve;
    });
    this.process = group.spawn({
      name: 'observer',
      netns,
      argv: [process.execPath, observerMain(), '--target', target, '--interval-ms', String(intervalMs)],
      stdin: true,
    });
    const stdout = this.process.child.stdout;
    if (stdout !== null) {
      createInterface({ input: stdout }).on('line', (line) => this.take(line));
    }
    const stderr = this.process.child.stderr;
    if (stderr !== null) {
      createInterface({ input: stderr }).on('line', (line) => {
        this.file.write(`${JSON.stringify({ stderr: line })}\n`);
      });
    }
  }

  private take(line: string): void {
    this.file.write(`${line}\n`);
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof record['ttl'] === 'number' && typeof record['t'] === 'number') {
      this.replies.push({ t: record['t'], n: Number(record['n']), ttl: record['ttl'], rtt: Number(record['rtt']) });
      if (this.replies.length > MAX_REPLIES) {
        this.replies.splice(0, this.replies.length - MAX_REPLIES);
      }
    } else if (typeof record['sent'] === 'number') {
      this.sent = record['sent'];
      this.sendErrors = Number(record['errors'] ?? 0);
    } else if (record['ready'] === true) {
      this.readyResolve?.();
    }
  }

  get running(): boolean {
    return this.process.running;
  }

  lastReply(): Reply | null {
    return this.replies.at(-1) ?? null;
  }

  /** Replies received at or after this monotonic time (µs). */
  repliesSince(fromUs: number): Reply[] {
    return this.replies.filter((reply) => reply.t >= fromUs);
  }

  /** Largest gap between replies in [fromUs, toUs] (toUs defaults to now): the outage. */
  outage(fromUs: number, toUs = monoUs()): Gap {
    return largestGap(this.replies, fromUs, toUs);
  }

  ttlChanges(fromUs = 0): Array<{ t: number; ttl: number }> {
    return ttlChanges(this.repliesSince(fromUs));
  }

  async waitForReply(predicate: (reply: Reply) => boolean, timeoutMs: number, fromUs = 0): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    for (;;) {
      for (; checked < this.replies.length; checked += 1) {
        const reply = this.replies[checked];
        if (reply !== undefined && reply.t >= fromUs && predicate(reply)) {
          return reply;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`observer: no matching reply within ${timeoutMs} ms`);
      }
      await sleep(5);
    }
  }

  async stop(): Promise<void> {
    this.process.child.stdin?.end();
    await this.process.stop(1000);
    await new Promise<void>((resolve) => this.file.end(resolve));
  }
}
