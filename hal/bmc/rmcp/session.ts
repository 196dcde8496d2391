/**
 * One RMCP+ session with one BMC, kept open between operations.
 *
 * Contract:
 * - `call()` sends one IPMI request in the session and resolves with the BMC's response (any
 *   completion code; the caller decides). It opens the session first when there is none.
 * - Calls run one after the other. Each has its own deadline, `timeoutMs` from the moment it was
 *   made, split into `retries + 1` attempts. An attempt that times out drops the session (the BMC
 *   may have restarted or forgotten it: ipmi_sim then ignores our packets silently), so the next
 *   attempt opens a fresh one; the old one gets a best-effort Close Session.
 * - Rejects with `BmcError`: `auth` (credentials or privilege refused, password file unreadable),
 *   `refused` (the BMC refused the algorithms or a session), `unreachable` (socket error on every
 *   attempt), `garbage` (only undecodable answers came), `timeout` (nothing usable came).
 * - A datagram that does not decode, fails the integrity check, names another session, repeats
 *   a sequence number or answers another request is dropped in the socket handler; it never throws.
 * - The password is read from `passwordFile` at every session open and appears in no error or log.
 * - Deadlines and idle times are on a monotonic clock (`driver.now`), never the wall clock.
 * - `keepaliveMs` > 0: while a session is wanted (after `open()` or any call), a Get Device ID is
 *   sent when it has been idle that long, and a lost session is opened again in the background.
 *   ipmi_sim forgets a session after 30 s without traffic (IPMI v2.0 suggests 60 s).
 * - `close()` sends Close Session, stops the keepalive and releases the socket; a later call
 *   opens a new session.
 * - `driver.journal`: every session established is noted there, and noted closed when it is
 *   closed or dropped, so that a later run can close what a killed run left open:
 *   `reclaim(records)` sends Close Session naming each of them from this (administrator)
 *   session. A kill between the BMC's RAKP 4 and the note leaves one session unnoted.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { BmcError } from '../../errors/bmc-error.js';
import type { BmcErrorKind } from '../../errors/bmc-error.js';
import { cipherSuite, deriveKeys, sameCode } from './cipher-suite.js';
import type { CipherSuite } from './cipher-suite.js';
import { isRmcpCodecError } from './codec-error.js';
import {
  NAME_ONLY_LOOKUP,
  Privilege,
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
  isAuthStatus,
  kuidOf,
  rakp2Code,
  rakp3Code,
  rakp4Code,
  statusText,
} from './handshake.js';
import type { Exchange } from './handshake.js';
import { Command, completionText, decodeIpmiResponse, encodeIpmiRequest } from './ipmi-message.js';
import type { IpmiResponse } from './ipmi-message.js';
import { PayloadType, decodeSessionHeader, encodeSessionPacket, openSessionPacket } from './packet.js';
import type { RawSessionPacket, SessionSecurity } from './packet.js';
import { UdpTransport } from './transport.js';
import type { DatagramTransport } from './transport.js';
import type { SessionJournal, SessionRecord } from './session-journal.js';

export interface RmcpSessionOptions {
  member: string;
  host: string;
  port: number;
  username: string;
  /** File holding the password; one trailing newline is ignored (like `ipmitool -f`). */
  passwordFile: string;
  /** 3 (ipmi_sim, most BMCs) or 17. */
  cipherSuite: number;
  /** Upper bound of one call, session (re)establishment included. */
  timeoutMs: number;
  /** Further attempts after the first within `timeoutMs`; default 1. */
  retries?: number;
  /** Session privilege; default administrator (Chassis Control needs operator). */
  privilege?: number;
  /** Idle time after which a keepalive is sent; default 10000, 0 turns it off. */
  keepaliveMs?: number;
}

export interface RmcpSessionDriver {
  /** Default: UDP to host:port. */
  transport?: DatagramTransport;
  /** Progress lines (session opened, dropped, keepalive failures); never the password. */
  log?: (line: string) => void;
  /**
   * Milliseconds on a monotonic clock, for deadlines and idle times; default
   * `performance.now()`. Never the wall clock: a step of it would stretch or cut timeouts.
   */
  now?: () => number;
  /** Notes the sessions held open on the BMC (see session-journal.ts); default none. */
  journal?: SessionJournal;
}

/** What became of one leftover session that `reclaim` named in Close Session. */
export interface ReclaimOutcome {
  record: SessionRecord;
  /** closed: the BMC closed it; gone: the BMC no longer knew it (timed out); refused: another completion code. */
  outcome: 'closed' | 'gone' | 'refused';
  detail: string;
}

/** Close Session's completion code for a session ID the BMC does not know. */
const SESSION_NOT_FOUND = 0x87;

export interface SessionStats {
  /** Sessions established so far. */
  opens: number;
  /** Datagrams dropped by the socket handler (garbage, foreign, replayed, late). */
  dropped: number;
  /** Keepalives sent. */
  keepalives: number;
  /** Milliseconds the last session establishment took. */
  lastOpenMs: number;
}

const DEFAULT_RETRIES = 1;
const DEFAULT_KEEPALIVE_MS = 10_000;
const SEQUENCE_WINDOW = 32;

interface Established {
  consoleSessionId: number;
  bmcSessionId: number;
  security: SessionSecurity;
  outbound: number;
  highestInbound: number;
  recentInbound: number[];
}

/** Why one attempt ended without an answer. */
class AttemptFailed extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable',
    detail: string,
  ) {
    super(detail);
  }
}

interface Waiter {
  /** Returns a value to end the wait, null to ignore the datagram; throws RmcpCodecError for garbage. */
  match(raw: RawSessionPacket): unknown;
  resolve(value: unknown): void;
  fail(error: AttemptFailed): void;
}

export class RmcpSession {
  readonly stats: SessionStats = { opens: 0, dropped: 0, keepalives: 0, lastOpenMs: 0 };
  private readonly options: RmcpSessionOptions;
  private readonly suite: CipherSuite;
  private readonly transport: DatagramTransport;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly journal: SessionJournal | null;
  private transportOpen = false;
  private session: Established | null = null;
  private waiter: Waiter | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private busy = 0;
  private wanted = false;
  private lastTraffic = 0;
  private timer: NodeJS.Timeout | null = null;
  private tag = 0;
  private rqSeq = 0;
  /** Last undecodable datagram's reason, for a `garbage` error. */
  private garbage: string | null = null;

  constructor(options: RmcpSessionOptions, driver: RmcpSessionDriver = {}) {
    this.options = { ...options };
    try {
      this.suite = cipherSuite(options.cipherSuite);
    } catch (error) {
      throw new BmcError(options.member, 'open', 'refused', error instanceof Error ? error.message : String(error));
    }
    this.transport = driver.transport ?? new UdpTransport(options.host, options.port);
    this.log = driver.log ?? (() => undefined);
    this.now = driver.now ?? (() => performance.now());
    this.journal = driver.journal ?? null;
  }

  get member(): string {
    return this.options.member;
  }

  /** True while an authenticated session is believed to be open. */
  get established(): boolean {
    return this.session !== null;
  }

  /** Opens the session now (if there is none) and keeps it warm. */
  open(): Promise<void> {
    const deadline = this.now() + this.options.timeoutMs;
    return this.serialize('open', async () => {
      await this.withAttempts('open', deadline, (attemptDeadline) => this.ensure('open', attemptDeadline));
    });
  }

  /** One IPMI request in the session (opened first if needed). */
  call(operation: string, netFn: number, cmd: number, data: Buffer = Buffer.alloc(0)): Promise<IpmiResponse> {
    const deadline = this.now() + this.options.timeoutMs;
    return this.serialize(operation, () =>
      this.withAttempts(operation, deadline, async (attemptDeadline) => {
        await this.ensure(operation, attemptDeadline);
        return this.request(netFn, cmd, data, attemptDeadline);
      }),
    );
  }

  /** `call`, with a non-zero completion code turned into `BmcError` kind `refused`. */
  async command(operation: string, netFn: number, cmd: number, data?: Buffer): Promise<Buffer> {
    const response = await this.call(operation, netFn, cmd, data);
    if (response.completionCode !== 0) {
      throw new BmcError(this.member, operation, 'refused', `BMC answered ${completionText(response.completionCode)}`);
    }
    return response.data;
  }

  /**
   * Closes sessions a previous run left open on this BMC: opens this session (if there is
   * none; it stays open and warm) and sends Close Session naming each one. Each answered one
   * is noted closed in the journal; rejects (`BmcError`) when no session can be opened or the
   * BMC stops answering, and what was not answered stays in the journal for the next run.
   */
  reclaim(records: readonly SessionRecord[]): Promise<ReclaimOutcome[]> {
    const deadline = this.now() + this.options.timeoutMs;
    return this.serialize('reclaim', async () => {
      await this.withAttempts('reclaim', deadline, (attemptDeadline) => this.ensure('reclaim', attemptDeadline));
      const outcomes: ReclaimOutcome[] = [];
      for (const record of records) {
        if (this.session !== null && record.bmcSessionId === this.session.bmcSessionId) {
          // The BMC reused the ID for the session just opened: the leftover is long gone.
          outcomes.push({ record, outcome: 'gone', detail: 'its ID names our new session' });
          this.journal?.closed(record);
          continue;
        }
        const callDeadline = this.now() + this.options.timeoutMs;
        const response = await this.withAttempts('reclaim', callDeadline, async (attemptDeadline) => {
          await this.ensure('reclaim', attemptDeadline);
          return this.request(
            Command.closeSession.netFn,
            Command.closeSession.cmd,
            le32(record.bmcSessionId),
            attemptDeadline,
          );
        });
        const code = response.completionCode;
        outcomes.push({
          record,
          outcome: code === 0 ? 'closed' : code === SESSION_NOT_FOUND ? 'gone' : 'refused',
          detail: code === 0 ? 'closed' : `BMC answered ${completionText(code)}`,
        });
        this.journal?.closed(record);
      }
      return outcomes;
    });
  }

  /** Close Session (waited for briefly), keepalive stopped, socket released. */
  close(): Promise<void> {
    this.wanted = false;
    this.stopTimer();
    return this.serialize('close', async () => {
      const session = this.session;
      if (session !== null) {
        const deadline = this.now() + Math.min(this.options.timeoutMs, 1000);
        await this.request(
          Command.closeSession.netFn,
          Command.closeSession.cmd,
          le32(session.bmcSessionId),
          deadline,
        ).catch(() => undefined);
        this.journal?.closed(this.record(session));
      }
      this.session = null;
      this.transport.close();
      this.transportOpen = false;
    });
  }

  // ---- sequencing ----------------------------------------------------------------------

  private serialize<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (operation !== 'close') {
      this.wanted = true;
      this.startTimer();
    }
    this.busy += 1;
    const run = this.queue.then(work, work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run.finally(() => {
      this.busy -= 1;
    });
  }

  /**
   * Runs `attempt` up to retries+1 times, each with its share of the time left. Auth and refusal
   * errors end at once; a timed-out attempt drops the session.
   */
  private async withAttempts<T>(
    operation: string,
    deadline: number,
    attempt: (attemptDeadline: number) => Promise<T>,
  ): Promise<T> {
    const attempts = (this.options.retries ?? DEFAULT_RETRIES) + 1;
    this.garbage = null;
    let last: AttemptFailed | null = null;
    for (let i = 0; i < attempts; i += 1) {
      const now = this.now();
      if (now >= deadline) {
        break;
      }
      const attemptDeadline = now + (deadline - now) / (attempts - i);
      try {
        return await attempt(attemptDeadline);
      } catch (error) {
        if (!(error instanceof AttemptFailed)) {
          throw error;
        }
        last = error;
        this.drop(`${operation}: ${error.message}`);
      }
    }
    const kind: BmcErrorKind =
      last?.kind === 'unreachable' ? 'unreachable' : this.garbage !== null ? 'garbage' : 'timeout';
    const detail =
      kind === 'garbage'
        ? `no valid answer within ${this.options.timeoutMs} ms; last datagram: ${this.garbage ?? ''}`
        : kind === 'unreachable'
          ? (last?.message ?? 'unreachable')
          : `no answer within ${this.options.timeoutMs} ms`;
    throw new BmcError(this.member, operation, kind, `${detail} (${attempts} attempts)`);
  }

  /** Forgets the session after a failed attempt; tells the BMC with a Close Session we do not wait for. */
  private drop(reason: string): void {
    const session = this.session;
    if (session === null) {
      return;
    }
    this.session = null;
    this.log(`bmc of ${this.member}: session 0x${session.bmcSessionId.toString(16)} dropped (${reason})`);
    const message = encodeIpmiRequest({
      ...Command.closeSession,
      rqSeq: this.nextRqSeq(),
      data: le32(session.bmcSessionId),
    });
    this.sendInSession(session, message);
    this.journal?.closed(this.record(session));
  }

  private record(session: Established): SessionRecord {
    return {
      member: this.member,
      host: this.options.host,
      port: this.options.port,
      bmcSessionId: session.bmcSessionId,
    };
  }

  // ---- establishment -------------------------------------------------------------------

  private async ensure(operation: string, deadline: number): Promise<void> {
    if (this.session !== null) {
      return;
    }
    const started = this.now();
    await this.openTransport(operation);
    const password = await this.readPassword(operation);
    let kuid: Buffer;
    try {
      kuid = kuidOf(password);
    } catch {
      throw new BmcError(this.member, operation, 'auth', 'password is longer than 20 bytes');
    } finally {
      password.fill(0);
    }
    try {
      this.session = await this.handshake(operation, kuid, deadline);
    } finally {
      kuid.fill(0);
    }
    this.journal?.opened(this.record(this.session));
    this.stats.opens += 1;
    this.stats.lastOpenMs = Math.round(this.now() - started);
    this.log(
      `bmc of ${this.member}: session 0x${this.session.bmcSessionId.toString(16)} open (suite ${this.suite.id}) in ${this.stats.lastOpenMs} ms`,
    );
  }

  private async openTransport(operation: string): Promise<void> {
    if (this.transportOpen) {
      return;
    }
    try {
      await this.transport.open({
        message: (datagram) => this.onDatagram(datagram),
        error: (error) => this.onSocketError(error),
      });
    } catch (error) {
      throw new BmcError(
        this.member,
        operation,
        'unreachable',
        `cannot open a UDP socket to ${this.options.host}:${this.options.port}: ${errorCode(error)}`,
        { cause: error },
      );
    }
    this.transportOpen = true;
  }

  private async readPassword(operation: string): Promise<Buffer> {
    let content: Buffer;
    try {
      content = await readFile(this.options.passwordFile);
    } catch (error) {
      throw new BmcError(
        this.member,
        operation,
        'auth',
        `password file ${this.options.passwordFile} is not readable (${errorCode(error)})`,
      );
    }
    let end = content.length;
    if (content[end - 1] === 0x0a) {
      end -= content[end - 2] === 0x0d ? 2 : 1;
    }
    const password = Buffer.from(content.subarray(0, end));
    content.fill(0);
    return password;
  }

  private async handshake(operation: string, kuid: Buffer, deadline: number): Promise<Established> {
    const suite = this.suite;
    const fail = (kind: BmcErrorKind, detail: string): BmcError => new BmcError(this.member, operation, kind, detail);
    const consoleSessionId = randomBytes(4).readUInt32LE(0) || 1;
    const privilege = this.options.privilege ?? Privilege.administrator;

    const openTag = this.nextTag();
    const opened = await this.exchange(
      encodeSessionPacket({
        payloadType: PayloadType.openSessionRequest,
        sessionId: 0,
        sequence: 0,
        payload: encodeOpenSessionRequest({ tag: openTag, privilege, consoleSessionId, suite }),
      }),
      (raw) => {
        if (!isPreSession(raw, PayloadType.openSessionResponse)) return null;
        const response = decodeOpenSessionResponse(raw.payload);
        return response.tag === openTag && (response.consoleSessionId === consoleSessionId || response.status !== 0)
          ? response
          : null;
      },
      deadline,
    );
    if (opened.status !== 0) {
      throw fail(
        isAuthStatus(opened.status) ? 'auth' : 'refused',
        `Open Session refused: ${statusText(opened.status)} (cipher suite ${suite.id})`,
      );
    }
    if (
      opened.authAlgorithm !== suite.authAlgorithm ||
      opened.integrityAlgorithm !== suite.integrityAlgorithm ||
      opened.confidentialityAlgorithm !== suite.confidentialityAlgorithm
    ) {
      throw fail(
        'refused',
        `BMC chose algorithms ${opened.authAlgorithm}/${opened.integrityAlgorithm}/${opened.confidentialityAlgorithm}, not those of cipher suite ${suite.id}`,
      );
    }

    const username = Buffer.from(this.options.username, 'utf8');
    if (username.length > 16) {
      throw fail('auth', 'user name is longer than 16 bytes');
    }
    const exchange: Exchange = {
      suite,
      kuid,
      consoleSessionId,
      bmcSessionId: opened.bmcSessionId,
      consoleRandom: randomBytes(16),
      bmcRandom: Buffer.alloc(0),
      bmcGuid: Buffer.alloc(0),
      role: privilege | NAME_ONLY_LOOKUP,
      username,
    };
    const rakp1Tag = this.nextTag();
    const rakp2 = await this.exchange(
      encodeSessionPacket({
        payloadType: PayloadType.rakp1,
        sessionId: 0,
        sequence: 0,
        payload: encodeRakp1({
          tag: rakp1Tag,
          bmcSessionId: opened.bmcSessionId,
          consoleRandom: exchange.consoleRandom,
          role: exchange.role,
          username,
        }),
      }),
      (raw) => {
        if (!isPreSession(raw, PayloadType.rakp2)) return null;
        const message = decodeRakp2(raw.payload);
        return message.tag === rakp1Tag && (message.consoleSessionId === consoleSessionId || message.status !== 0)
          ? message
          : null;
      },
      deadline,
    );
    if (rakp2.status !== 0) {
      throw fail(isAuthStatus(rakp2.status) ? 'auth' : 'refused', `RAKP 2: ${statusText(rakp2.status)}`);
    }
    exchange.bmcRandom = Buffer.from(rakp2.bmcRandom);
    exchange.bmcGuid = Buffer.from(rakp2.bmcGuid);
    const rakp3Tag = this.nextTag();
    if (!sameCode(rakp2Code(exchange), rakp2.keyExchangeCode)) {
      // Tell the BMC, so that it frees the half-open session at once.
      this.transport.send(
        encodeSessionPacket({
          payloadType: PayloadType.rakp3,
          sessionId: 0,
          sequence: 0,
          payload: encodeRakp3({
            tag: rakp3Tag,
            status: 0x0f,
            bmcSessionId: opened.bmcSessionId,
            keyExchangeCode: Buffer.alloc(0),
          }),
        }),
      );
      throw fail('auth', 'RAKP 2 HMAC is invalid: wrong password (or a BMC that is not the one configured)');
    }
    const keys = deriveKeys(suite, kuid, exchange.consoleRandom, exchange.bmcRandom, exchange.role, username);
    const rakp4 = await this.exchange(
      encodeSessionPacket({
        payloadType: PayloadType.rakp3,
        sessionId: 0,
        sequence: 0,
        payload: encodeRakp3({
          tag: rakp3Tag,
          status: 0,
          bmcSessionId: opened.bmcSessionId,
          keyExchangeCode: rakp3Code(exchange),
        }),
      }),
      (raw) => {
        if (!isPreSession(raw, PayloadType.rakp4)) return null;
        const message = decodeRakp4(raw.payload);
        return message.tag === rakp3Tag && (message.consoleSessionId === consoleSessionId || message.status !== 0)
          ? message
          : null;
      },
      deadline,
    );
    if (rakp4.status !== 0) {
      throw fail(isAuthStatus(rakp4.status) ? 'auth' : 'refused', `RAKP 4: ${statusText(rakp4.status)}`);
    }
    if (!sameCode(rakp4Code(exchange, keys.sik), rakp4.integrityCheck)) {
      throw fail('auth', 'RAKP 4 integrity check value is invalid');
    }
    keys.sik.fill(0);

    const session: Established = {
      consoleSessionId,
      bmcSessionId: opened.bmcSessionId,
      security: { suite, k1: keys.k1, k2: keys.k2 },
      outbound: 0,
      highestInbound: 0,
      recentInbound: [],
    };
    // Sessions start at user privilege; raise it (one more round trip, at open only).
    const raised = await this.requestIn(
      session,
      Command.setSessionPrivilege.netFn,
      Command.setSessionPrivilege.cmd,
      Buffer.from([privilege]),
      deadline,
    );
    if (raised.completionCode !== 0) {
      throw fail('auth', `Set Session Privilege Level ${privilege} refused: ${completionText(raised.completionCode)}`);
    }
    return session;
  }

  // ---- requests ------------------------------------------------------------------------

  private request(netFn: number, cmd: number, data: Buffer, deadline: number): Promise<IpmiResponse> {
    const session = this.session;
    if (session === null) {
      return Promise.reject(new AttemptFailed('timeout', 'no session'));
    }
    return this.requestIn(session, netFn, cmd, data, deadline);
  }

  private requestIn(
    session: Established,
    netFn: number,
    cmd: number,
    data: Buffer,
    deadline: number,
  ): Promise<IpmiResponse> {
    const rqSeq = this.nextRqSeq();
    const message = encodeIpmiRequest({ netFn, cmd, rqSeq, data });
    return this.exchange(
      null,
      (raw) => {
        if (raw.payloadType !== PayloadType.ipmi) return null;
        if (raw.sessionId !== session.consoleSessionId) {
          throw new Error(`session id 0x${raw.sessionId.toString(16)} is not ours`);
        }
        const packet = openSessionPacket(raw, session.security);
        acceptSequence(session, packet.sequence);
        const response = decodeIpmiResponse(packet.payload);
        return response.rqSeq === rqSeq && response.netFn === netFn && response.cmd === cmd ? response : null;
      },
      deadline,
      () => this.sendInSession(session, message),
    );
  }

  private sendInSession(session: Established, message: Buffer): void {
    session.outbound = (session.outbound + 1) >>> 0 || 1;
    this.transport.send(
      encodeSessionPacket(
        {
          payloadType: PayloadType.ipmi,
          sessionId: session.bmcSessionId,
          sequence: session.outbound,
          payload: message,
        },
        session.security,
      ),
    );
  }

  /** Sends (`datagram` or `send()`) and waits for the first datagram `match` accepts, until `deadline`. */
  private exchange<T>(
    datagram: Buffer | null,
    match: (raw: RawSessionPacket) => T | null,
    deadline: number,
    send?: () => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => finish(() => reject(new AttemptFailed('timeout', 'no answer'))),
        Math.max(0, deadline - this.now()),
      );
      const finish = (end: () => void): void => {
        clearTimeout(timer);
        if (this.waiter === waiter) {
          this.waiter = null;
        }
        end();
      };
      const waiter: Waiter = {
        match,
        resolve: (value) => finish(() => resolve(value as T)),
        fail: (error) => finish(() => reject(error)),
      };
      this.waiter = waiter;
      if (datagram !== null) {
        this.transport.send(datagram);
      }
      send?.();
    });
  }

  /** Socket handler: never throws. */
  private onDatagram(datagram: Buffer): void {
    this.lastTraffic = this.now();
    const waiter = this.waiter;
    try {
      const raw = decodeSessionHeader(datagram);
      const value = waiter === null ? null : waiter.match(raw);
      if (value === null || value === undefined) {
        this.stats.dropped += 1;
        return;
      }
      waiter?.resolve(value);
    } catch (error) {
      this.stats.dropped += 1;
      // Only what does not decode counts as garbage; a foreign or replayed packet is just dropped.
      if (isRmcpCodecError(error)) {
        this.garbage = error.message;
      }
    }
  }

  private onSocketError(error: Error): void {
    const detail = `socket error ${errorCode(error)} talking to ${this.options.host}:${this.options.port}`;
    this.log(`bmc of ${this.member}: ${detail}`);
    this.waiter?.fail(new AttemptFailed('unreachable', detail));
  }

  // ---- keepalive -----------------------------------------------------------------------

  private startTimer(): void {
    const every = this.options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (this.timer !== null || every <= 0) {
      return;
    }
    this.timer = setInterval(() => this.keepalive(every), Math.max(100, Math.floor(every / 2)));
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private keepalive(every: number): void {
    if (!this.wanted || this.busy > 0) {
      return;
    }
    if (this.session !== null && this.now() - this.lastTraffic < every) {
      return;
    }
    this.stats.keepalives += 1;
    const work =
      this.session === null ? this.open() : this.call('keepalive', Command.getDeviceId.netFn, Command.getDeviceId.cmd);
    work.catch((error: unknown) =>
      this.log(`bmc of ${this.member}: keepalive: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  private nextTag(): number {
    this.tag = (this.tag + 1) & 0xff;
    return this.tag;
  }

  private nextRqSeq(): number {
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    return this.rqSeq;
  }
}

/** Session-less handshake answers: session id 0, neither encrypted nor authenticated. */
function isPreSession(raw: RawSessionPacket, payloadType: number): boolean {
  return raw.payloadType === payloadType && raw.sessionId === 0 && !raw.encrypted && !raw.authenticated;
}

/** Inbound session sequence numbers: non-zero, not seen recently, not far behind. Throws otherwise. */
function acceptSequence(session: Established, sequence: number): void {
  if (
    sequence === 0 ||
    session.recentInbound.includes(sequence) ||
    sequence + SEQUENCE_WINDOW <= session.highestInbound
  ) {
    throw new Error(`session sequence number ${sequence} is replayed or out of window`);
  }
  session.highestInbound = Math.max(session.highestInbound, sequence);
  session.recentInbound.push(sequence);
  if (session.recentInbound.length > SEQUENCE_WINDOW) {
    session.recentInbound.shift();
  }
}

function le32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0, 0);
  return out;
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
