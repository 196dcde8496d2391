/**
 * systemd's two datagram protocols, spoken through the unixdgram addon:
 * - sd_notify (sd_notify(3)): `KEY=value` lines in one datagram to $NOTIFY_SOCKET;
 * - journald's native protocol (systemd.journal-fields(7), "Native Journal Protocol"):
 *   `KEY=value\n` per field, or for a value holding a newline `KEY\n`, its length as
 *   64-bit little endian, the value and `\n`.
 * Entries larger than one datagram (journald would want a memfd) are not sent: the caller
 * falls back to stdout, which journald also collects.
 */
import { fstatSync } from 'node:fs';
import type { Journal, ServiceManager } from './index.js';
import type { UnixDgramBinding } from './native.js';

/** journald's socket for the native protocol. */
export const JOURNAL_SOCKET = '/run/systemd/journal/socket';
/** Well below the default SO_SNDBUF and journald's datagram limit. */
const MAX_DATAGRAM = 128 * 1024;

export class SystemdServiceManager implements ServiceManager {
  readonly supervised: boolean;
  readonly watchdogUs: number | null;

  private constructor(
    private readonly socket: string | null,
    watchdogUs: number | null,
    private readonly dgram: UnixDgramBinding | null,
  ) {
    this.supervised = socket !== null && dgram !== null;
    this.watchdogUs = this.supervised ? watchdogUs : null;
  }

  /**
   * From the environment systemd gives a service: NOTIFY_SOCKET, and WATCHDOG_USEC when
   * WATCHDOG_PID is unset or this process. Without the addon nothing is supervised.
   */
  static fromEnv(env: NodeJS.ProcessEnv, dgram: UnixDgramBinding | null, pid = process.pid): SystemdServiceManager {
    const socket = env['NOTIFY_SOCKET'] ?? '';
    const usec = Number(env['WATCHDOG_USEC'] ?? '');
    const forUs = env['WATCHDOG_PID'] === undefined || Number(env['WATCHDOG_PID']) === pid;
    const watchdogUs = Number.isFinite(usec) && usec > 0 && forUs ? usec : null;
    return new SystemdServiceManager(socket === '' ? null : socket, watchdogUs, dgram);
  }

  notify(fields: Readonly<Record<string, string>>): boolean {
    if (!this.supervised || this.socket === null || this.dgram === null) return false;
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)
      .join('\n');
    return this.dgram.send(this.socket, Buffer.from(text, 'utf8')) === 0;
  }
}

export class SystemdJournal implements Journal {
  constructor(
    private readonly dgram: UnixDgramBinding,
    private readonly socket: string = JOURNAL_SOCKET,
  ) {}

  send(fields: ReadonlyArray<readonly [string, string]>): boolean {
    const data = encodeJournalEntry(fields);
    if (data.length > MAX_DATAGRAM) return false;
    return this.dgram.send(this.socket, data) === 0;
  }
}

/** One entry in journald's native protocol. */
export function encodeJournalEntry(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of fields) {
    if (!value.includes('\n')) {
      parts.push(Buffer.from(`${key}=${value}\n`, 'utf8'));
      continue;
    }
    const bytes = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    parts.push(Buffer.from(`${key}\n`, 'utf8'), length, bytes, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Whether stdout is connected to the journal (systemd sets JOURNAL_STREAM to its device and
 * inode): then the agent writes native entries, with priorities and fields, instead of text.
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (stream === undefined) return false;
  try {
    const stat = fstatSync(1);
    return stream === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}
