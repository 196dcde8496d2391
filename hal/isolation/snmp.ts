/**
 * Switch-port isolation over SNMP (IF-MIB `ifAdminStatus`), as fence_ifmib does it, spoken
 * in-process through the `net-snmp` package with one kept UDP socket per switch: a cut is one
 * SET (`ifAdminStatus.N = down(2)`) and then GETs of `ifAdminStatus.N` (with `ifOperStatus.N`
 * for the log) until the port reads administratively down, a millisecond or two each on a LAN.
 * The cut is confirmed on ifAdminStatus, as fence_ifmib's status does: a switch applies the
 * SET before it answers, while ifOperStatus may be served from a cache (net-snmp's snmpd
 * refreshes its interface table only every few seconds). Every operation has one
 * deadline, on monotonic time. SNMPv2c only: the community is the secret and is read from a
 * file (never logged, never in an error).
 *
 * Error kinds (see IsolationError):
 * - `timeout`: no answer before the deadline. With SNMPv2c a wrong community gets no answer
 *   at all (the agent drops the request), so it shows up here too, and the message says so.
 * - `auth`: the switch answered that the community may not write (noAccess, notWritable,
 *   authorizationError, readOnly): a read-only community.
 * - `refused`: the switch answered with another error, or has no such ifIndex.
 * - `garbage`: an answer that is not what was asked for.
 * - `unreachable`: the socket failed (no route), or the community file cannot be read.
 */
import { readFileSync } from 'node:fs';
import snmp from 'net-snmp';
import { IsolationError } from '../errors/isolation-error.js';
import type { IsolationErrorKind } from '../errors/isolation-error.js';
import type { IsolationState, Isolator, IsolatorFactory } from './index.js';

/** IF-MIB::ifAdminStatus and ifOperStatus, numeric (Debian ships no MIB files). */
export const IF_ADMIN_STATUS = '1.3.6.1.2.1.2.2.1.7';
export const IF_OPER_STATUS = '1.3.6.1.2.1.2.2.1.8';
const UP = 1;
const DOWN = 2;

export interface SnmpIsolatorOptions {
  member: string;
  /** The switch's management address. */
  host: string;
  port: number;
  /** File holding the SNMPv2c community with write access (first line). */
  communityFile: string;
  /** The member's switch port as IF-MIB numbers it. */
  ifIndex: number;
  /** Upper bound for one operation: the SET and every read-back. */
  timeoutMs: number;
  /** How long one request waits for its answer before it is sent again (within timeoutMs). */
  requestMs: number;
  /** Pause between read-backs that did not yet read the wanted state. */
  pollMs: number;
}

/** The two answers a read-back needs. */
export interface PortReading {
  admin: number;
  oper: number;
}

/** A failed SNMP request, by kind; the isolator turns it into an IsolationError. */
export class SnmpFailure extends Error {
  override name = 'SnmpFailure';

  constructor(
    readonly kind: IsolationErrorKind,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

/**
 * What the isolator needs of an SNMP session: tests give a fake, the driver net-snmp. A
 * failed request rejects with SnmpFailure; its message never holds the community.
 */
export interface SnmpChannel {
  get(oids: readonly string[], timeoutMs: number): Promise<number[]>;
  setInteger(oid: string, value: number, timeoutMs: number): Promise<void>;
  close(): void;
}

export class SnmpIsolator implements Isolator {
  readonly member: string;
  readonly device: string;

  constructor(
    private readonly options: SnmpIsolatorOptions,
    private readonly channel: () => SnmpChannel,
  ) {
    this.member = options.member;
    this.device = `switch ${options.host}:${options.port} ifIndex ${options.ifIndex}`;
  }

  /** Sets the port down, then reads it back until it is administratively down. */
  async isolate(): Promise<void> {
    const deadline = this.deadline();
    await this.set('isolate', DOWN, deadline);
    await this.readUntil('isolate', deadline, (r) => r.admin === DOWN, 'down');
  }

  /**
   * Sets the port up, then reads it back until it is administratively up. Its operational
   * state is not waited for: a member still powered off has no link, and that is fine.
   */
  async restore(): Promise<void> {
    const deadline = this.deadline();
    await this.set('restore', UP, deadline);
    await this.readUntil('restore', deadline, (r) => r.admin === UP, 'up');
  }

  /** `isolated` while the port is administratively down (what this driver sets). */
  async status(): Promise<IsolationState> {
    const reading = await this.read('status', this.deadline());
    return reading.admin === DOWN ? 'isolated' : 'connected';
  }

  /** One reading of the port (for tests and the benchmark). */
  read(operation: string, deadline = this.deadline()): Promise<PortReading> {
    const index = this.options.ifIndex;
    return this.request(operation, deadline, async (ms) => {
      const [admin, oper] = await this.channel().get([`${IF_ADMIN_STATUS}.${index}`, `${IF_OPER_STATUS}.${index}`], ms);
      if (admin === undefined || oper === undefined)
        throw new SnmpFailure('garbage', 'the switch answered fewer values than asked');
      return { admin, oper };
    });
  }

  private set(operation: string, value: number, deadline: number): Promise<void> {
    return this.request(operation, deadline, (ms) =>
      this.channel().setInteger(`${IF_ADMIN_STATUS}.${this.options.ifIndex}`, value, ms),
    );
  }

  private async readUntil(
    operation: string,
    deadline: number,
    done: (reading: PortReading) => boolean,
    want: string,
  ): Promise<void> {
    let last: PortReading | null = null;
    const stillReads = (reads: number, reading: PortReading): IsolationError =>
      new IsolationError(
        this.member,
        operation,
        'timeout',
        `${this.device} still reads ifAdminStatus ${statusName(reading.admin)} (ifOperStatus ${statusName(reading.oper)}) after ${reads} reads (wanted ${want})`,
      );
    for (let reads = 1; ; reads += 1) {
      let reading: PortReading;
      try {
        reading = await this.read(operation, deadline);
      } catch (error) {
        // The deadline ran out during a read: what the switch last said is the better reason.
        if (last !== null && error instanceof IsolationError && error.kind === 'timeout')
          throw stillReads(reads - 1, last);
        throw error;
      }
      if (done(reading)) return;
      last = reading;
      if (performance.now() + this.options.pollMs >= deadline) throw stillReads(reads, reading);
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs));
    }
  }

  /** One request, with what is left of the deadline (at most requestMs a try). */
  private async request<T>(operation: string, deadline: number, send: (timeoutMs: number) => Promise<T>): Promise<T> {
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0)
        throw new IsolationError(
          this.member,
          operation,
          'timeout',
          `no answer from ${this.device} in ${this.options.timeoutMs} ms (switch down, or a wrong community: SNMPv2c does not answer one)`,
        );
      try {
        return await send(Math.max(1, Math.min(left, this.options.requestMs)));
      } catch (error) {
        // A lost datagram is sent again while the deadline allows; anything else is final.
        if (error instanceof SnmpFailure && error.kind === 'timeout') continue;
        if (error instanceof SnmpFailure)
          throw new IsolationError(this.member, operation, error.kind, `${this.device}: ${error.message}`, {
            cause: error,
          });
        throw error;
      }
    }
  }

  private deadline(): number {
    return performance.now() + this.options.timeoutMs;
  }
}

/**
 * A net-snmp session to one switch, SNMPv2c, no retries of its own (the isolator retries
 * within its deadline). The socket is opened once and kept.
 */
export class NetSnmpChannel implements SnmpChannel {
  private readonly session: snmp.Session;

  constructor(host: string, port: number, community: string) {
    this.session = snmp.createSession(host, community, {
      port,
      version: snmp.Version2c,
      retries: 0,
      timeout: 1000,
      // Our own request ids on the kept socket: 32-bit is the default, spelled out.
      idBitsSize: 32,
    });
    // A socket error (no route) fails the requests in flight through their callbacks.
    this.session.on('error', () => undefined);
  }

  get(oids: readonly string[], timeoutMs: number): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.withTimeout(timeoutMs);
      this.session.get([...oids], (error, varbinds) => {
        if (error) return reject(channelError('get', error));
        const values: number[] = [];
        for (const varbind of varbinds ?? []) {
          if (snmp.isVarbindError(varbind))
            return reject(new SnmpFailure('refused', `no such port: ${snmp.varbindError(varbind)}`));
          if (typeof varbind.value !== 'number')
            return reject(new SnmpFailure('garbage', `${varbind.oid} is not an integer`));
          values.push(varbind.value);
        }
        resolve(values);
      });
    });
  }

  setInteger(oid: string, value: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.withTimeout(timeoutMs);
      this.session.set([{ oid, type: snmp.ObjectType.Integer, value }], (error, varbinds) => {
        if (error) return reject(channelError('set', error));
        const answer = varbinds?.[0];
        if (answer === undefined || snmp.isVarbindError(answer) || answer.value !== value)
          return reject(new SnmpFailure('garbage', `the SET of ${oid} was answered with another value`));
        resolve();
      });
    });
  }

  close(): void {
    try {
      this.session.close();
    } catch {
      // already closed
    }
  }

  /** net-snmp reads the session's timeout when it sends; set it for this request. */
  private withTimeout(timeoutMs: number): void {
    (this.session as unknown as { timeout: number }).timeout = Math.max(1, Math.round(timeoutMs));
  }
}

/** net-snmp's error classes as failure kinds. */
function channelError(operation: string, error: Error): SnmpFailure {
  // By name: net-snmp's typings declare some of its error classes as interfaces only.
  if (error.name === 'RequestTimedOutError') return new SnmpFailure('timeout', `no answer to the ${operation}`);
  if (error.name === 'RequestFailedError') {
    const status = (error as { status?: number }).status;
    const kind: IsolationErrorKind = [4, 6, 16, 17].includes(status ?? -1) ? 'auth' : 'refused';
    const name = snmp.ErrorStatus[status ?? 5] ?? String(status);
    return new SnmpFailure(
      kind,
      `the switch refused the ${operation}: ${name}${kind === 'auth' ? ' (a read-only community?)' : ''}`,
      { cause: error },
    );
  }
  if (error.name === 'ResponseInvalidError') return new SnmpFailure('garbage', error.message, { cause: error });
  const code = (error as NodeJS.ErrnoException).code;
  return new SnmpFailure('unreachable', `${operation}: ${code ?? error.message}`, { cause: error });
}

function statusName(value: number): string {
  const names: Record<number, string> = {
    1: 'up',
    2: 'down',
    3: 'testing',
    5: 'dormant',
    6: 'notPresent',
    7: 'lowerLayerDown',
  };
  return names[value] ?? String(value);
}

/** Reads the community (first line of the file); its contents never reach a message. */
export function readCommunity(member: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new IsolationError(
      member,
      'open',
      'unreachable',
      `cannot read the community file (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error },
    );
  }
  const community = text.split('\n')[0]?.trim() ?? '';
  if (community === '') throw new IsolationError(member, 'open', 'unreachable', 'the community file is empty');
  return community;
}

/**
 * The switch ports of the members that have one, one kept session per switch (host, port and
 * community): members on the same switch share its socket. The community file is read when
 * a member's isolator is first opened.
 */
export class SnmpIsolatorFactory implements IsolatorFactory {
  private readonly options: ReadonlyMap<string, SnmpIsolatorOptions>;
  private readonly channels = new Map<string, SnmpChannel>();
  private readonly isolators = new Map<string, SnmpIsolator>();

  constructor(
    members: readonly SnmpIsolatorOptions[],
    private readonly openChannel: (host: string, port: number, community: string) => SnmpChannel = (h, p, c) =>
      new NetSnmpChannel(h, p, c),
  ) {
    this.options = new Map(members.map((o) => [o.member, o]));
  }

  has(member: string): boolean {
    return this.options.has(member);
  }

  open(member: string): SnmpIsolator {
    const existing = this.isolators.get(member);
    if (existing !== undefined) return existing;
    const options = this.options.get(member);
    if (options === undefined) throw new Error(`no isolation device is configured for member '${member}'`);
    let channel: SnmpChannel | null = null;
    const isolator = new SnmpIsolator(options, () => {
      if (channel !== null) return channel;
      const community = readCommunity(member, options.communityFile);
      // The key holds the community only as a map key in memory, never printed.
      const key = `${options.host}\0${options.port}\0${community}`;
      channel = this.channels.get(key) ?? this.openChannel(options.host, options.port, community);
      this.channels.set(key, channel);
      return channel;
    });
    this.isolators.set(member, isolator);
    return isolator;
  }

  /** Closes every switch session's socket. */
  closeAll(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}
