import type {
  AgentStatus,
  CommandOutcome,
  EchoResult,
  Operator,
  PowerReading,
  SyncResult,
  Transition,
} from '../../../src/agent/index.js';
import type { LogFields, LogLine } from '../../../src/log/index.js';
import type { LogLevel, OperatorCommand, Phase } from '../../../src/role/index.js';
import type { ShellStream } from '../../../src/shell/index.js';

/** An operator in memory: records every call; each answer can be held back with `gate`. */
export class FakeOperator implements Operator {
  readonly calls: string[] = [];
  readonly history: Transition[] = [
    {
      atMs: Date.UTC(2026, 0, 2, 3, 4, 5),
      atUs: 1,
      from: 'booting',
      to: 'monitor',
      role: 'monitor',
      epoch: 3,
      reason: 'monitor address was silent',
    },
  ];
  readonly logLines: LogLine[] = [];
  /** While set, status/probe/fence/sync wait for it. */
  gate: Promise<void> | null = null;

  async status(): Promise<AgentStatus> {
    this.calls.push('status');
    await this.gate;
    return fakeStatus(this.history.at(-1)?.to ?? 'booting');
  }

  transitions(): readonly Transition[] {
    return this.history;
  }

  recentLog(count: number): LogLine[] {
    this.calls.push(`log ${count}`);
    return this.logLines.slice(-count);
  }

  effectiveConfig(): Record<string, unknown> {
    return {
      node: 'a',
      cluster: {
        members: [
          { name: 'a', bmc: { host: '198.18.1.11', passwordFile: '/etc/hotspare/bmc-a.pass', password: 'hunter2' } },
        ],
      },
      sync: { keyFile: '/etc/k', psk: { token: 'tok-123' } },
    };
  }

  command(command: OperatorCommand): CommandOutcome {
    this.calls.push(command);
    return { accepted: true, from: 'primary', to: 'spare', message: `${command} accepted` };
  }

  async probe(address: string, count: number): Promise<EchoResult[]> {
    this.calls.push(`probe ${address} ${count}`);
    await this.gate;
    return Array.from({ length: count }, (_, i) => ({ sequence: i + 1, rttUs: i === 1 ? null : 40 + i }));
  }

  async bmcStatus(member: string): Promise<PowerReading> {
    this.calls.push(`bmc ${member}`);
    return {
      member,
      power: 'on',
      levels: [{ level: 1, device: 'BMC 10.0.1.2', power: 'on', error: null, tookUs: 12_000 }],
      port: null,
    };
  }

  async fenceMember(member: string): Promise<string> {
    this.calls.push(`fence ${member}`);
    await this.gate;
    return 'power off confirmed';
  }

  async syncNow(): Promise<SyncResult | null> {
    this.calls.push('sync now');
    await this.gate;
    return { skipped: false, files: 2, bytes: 2048, deleted: 1 };
  }

  /** Calls that change the cluster. */
  mutations(): string[] {
    return this.calls.filter(
      (c) => ['promote', 'demote', 'maintenance-on', 'maintenance-off'].includes(c) || c.startsWith('fence '),
    );
  }
}

export function fakeStatus(phase: Phase): AgentStatus {
  const summary = (min: number, median: number, p99: number) => ({
    count: 100,
    window: 100,
    min,
    median,
    p99,
    max: p99 + 1,
  });
  return {
    node: 'a',
    role: phase === 'primary' ? 'primary' : 'monitor',
    phase,
    epoch: 3,
    linkUp: true,
    maintenance: false,
    held: ['198.18.0.9/24'],
    primaryAddress: '198.18.0.10/24',
    monitorAddress: '198.18.0.9/24',
    holder: 'b',
    misses: 0,
    fence: { status: 'idle', target: null, attempt: 0 },
    probes: {
      probesSent: 1000,
      replies: 998,
      foreignReplies: 0,
      misses: 2,
      syncs: 10,
      syncErrors: 0,
      fences: 0,
      fenceFailures: 0,
    },
    rttUs: summary(21, 35, 120),
    probeJitterUs: summary(3, 50, 300),
    sync: {
      requested: 10,
      completed: 9,
      failed: 1,
      lastOkAtMs: Date.UTC(2026, 0, 2, 3, 4, 5),
      lagMs: 1200,
      lastFiles: 3,
      lastBytes: 1200,
      totalBytes: 9000,
      lastError: null,
      serving: false,
    },
    peers: null,
    lease: null,
    transitions: [],
    fenceHistory: [],
    uptimeS: 120,
  };
}

/** A byte stream in memory: type into it, read what the session wrote. */
export class FakeStream implements ShellStream {
  output = '';
  ended = false;
  private readonly listeners: Array<(chunk: Uint8Array) => void> = [];
  readonly end: (() => void) | null;

  constructor(closable: boolean) {
    this.end = closable ? () => void (this.ended = true) : null;
  }

  write(text: string): void {
    this.output += text;
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  type(data: string | Uint8Array): void {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    for (const listener of this.listeners) listener(chunk);
  }

  /** Output so far, then forget it. */
  take(): string {
    const out = this.output;
    this.output = '';
    return out;
  }
}

export interface Logged {
  level: LogLevel;
  event: string;
  message: string;
  fields: LogFields;
}

/** Lets promise chains and timers of 0 ms run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Polls until `predicate` holds (real time), failing with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export function bytes(text: string): Uint8Array {
  return Buffer.from(text, 'latin1');
}
