/**
 * The link state of a Linux interface: read from /sys/class/net/IF, and followed by one
 * long-lived `ip -o monitor link dev IF` child, restarted when it dies.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Children } from './processes.js';

const MONITOR_RESTART_MS = 1000;
const MONITOR_RESYNC_MS = 200;

export class LinkMonitor {
  private readonly listeners: Array<(up: boolean) => void> = [];
  private monitor: ReturnType<typeof spawn> | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private lastUp: boolean | null = null;

  constructor(
    private readonly name: string,
    private readonly children: Children,
  ) {}

  /** Reports every change of the carrier, once per change; the monitor starts at the first listener. */
  onLink(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
    if (this.monitor === null && !this.children.closed) {
      this.start();
    }
  }

  /** Stops listening; the monitor child itself is stopped with the NIC's other children. */
  close(): void {
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
    this.monitor = null;
  }

  private start(): void {
    const child = spawn('ip', ['-o', 'monitor', 'link', 'dev', this.name], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.monitor = child;
    this.children.track(child);
    child.stdin.end();
    child.on('error', () => undefined);
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const up = parseMonitorLine(line, this.name);
        if (up !== null) {
          this.report(up);
        }
      }
    });
    child.on('close', () => {
      if (this.monitor === child && !this.children.closed) {
        // Died on its own: restart it, and catch up on what changed meanwhile.
        this.monitor = null;
        this.later(MONITOR_RESTART_MS, () => this.start());
      }
    });
    // The first state comes from sysfs; the monitor subscribes a few ms after the spawn, so
    // read sysfs again once it surely listens, to catch a change made in between.
    this.resync();
    this.later(MONITOR_RESYNC_MS, () => this.resync());
  }

  private later(delayMs: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.children.closed) {
        fn();
      }
    }, delayMs);
    this.timers.add(timer);
  }

  private resync(): void {
    let up: boolean;
    try {
      up = readLinkState(this.name);
    } catch {
      up = false;
    }
    this.report(up);
  }

  private report(up: boolean): void {
    if (this.children.closed) {
      return;
    }
    if (this.lastUp === null) {
      this.lastUp = up;
      return;
    }
    if (up === this.lastUp) {
      return;
    }
    this.lastUp = up;
    for (const listener of [...this.listeners]) {
      listener(up);
    }
  }
}

/** Parses one `ip -o monitor link` line; null when it is not about `name`. */
export function parseMonitorLine(line: string, name: string): boolean | null {
  const match = /^(Deleted\s+)?\d+:\s+([^:@\s]+)(?:@[^:\s]*)?:\s+<([^>]*)>(?:.*?\bstate\s+(\S+))?/.exec(line.trim());
  if (match === null || match[2] !== name) {
    return null;
  }
  if (match[1] !== undefined) {
    return false;
  }
  const flags = (match[3] ?? '').split(',');
  const state = match[4] ?? 'UNKNOWN';
  return (
    flags.includes('UP') &&
    flags.includes('LOWER_UP') &&
    !flags.includes('NO-CARRIER') &&
    (state === 'UP' || state === 'UNKNOWN')
  );
}

export function sysPath(name: string, file: string): string {
  return `/sys/class/net/${name}/${file}`;
}

/** Up when the carrier is present and the operational state is up (or unknown, as on lo). */
export function readLinkState(name: string): boolean {
  const operstate = readFileSync(sysPath(name, 'operstate'), 'utf8').trim();
  let carrier: string;
  try {
    carrier = readFileSync(sysPath(name, 'carrier'), 'utf8').trim();
  } catch {
    // EINVAL while the interface is administratively down.
    return false;
  }
  return carrier === '1' && (operstate === 'up' || operstate === 'unknown');
}
