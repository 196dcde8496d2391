/**
 * BMC driver that speaks IPMI v2.0 RMCP+ itself (UDP, node:crypto) and keeps one authenticated
 * session per BMC open between operations: a fence costs a couple of round trips instead of a
 * process start and a session setup per ipmitool run.
 *
 * - Same contract as every `Bmc` (index.ts); errors are `BmcError` and never hold the password.
 * - `off`/`on`/`cycle` send Chassis Control and resolve when the BMC acknowledged it (completion
 *   code 0); they do not poll the power state (the caller confirms with `status`).
 * - `warm()` opens the session ahead of need and keeps it alive; `close()` ends it.
 * - With a session journal (rmcp/session-journal.ts) the factory's `reclaim()` closes the
 *   sessions a previous run of the agent left open, before the sessions are warmed.
 * - Session handling, timeouts, retries and re-establishment: see rmcp/session.ts.
 */
import type { Bmc, BmcFactory, PowerState, SystemIdentity } from './index.js';
import { BmcError } from '../errors/bmc-error.js';
import { ChassisControl, Command, powerFromChassisStatus } from './rmcp/ipmi-message.js';
import { RmcpSession } from './rmcp/session.js';
import type { ReclaimOutcome, RmcpSessionDriver, RmcpSessionOptions, SessionStats } from './rmcp/session.js';
import type { SessionRecord } from './rmcp/session-journal.js';
import { isRmcpCodecError } from './rmcp/codec-error.js';
import type { DatagramTransport } from './rmcp/transport.js';

export type { ReclaimOutcome, RmcpSessionDriver, SessionStats } from './rmcp/session.js';
export type { SessionJournal, SessionRecord } from './rmcp/session-journal.js';
export { MemorySessionJournal } from './rmcp/session-journal.js';
export { SUPPORTED_CIPHER_SUITES } from './rmcp/cipher-suite.js';

/**
 * Options of one BMC. The fields shared with `IpmitoolBmcOptions` mean the same; `interface`
 * is not needed (always RMCP+, i.e. lanplus).
 */
export type RmcpBmcOptions = RmcpSessionOptions;

export class RmcpBmc implements Bmc {
  readonly member: string;
  private readonly session: RmcpSession;

  constructor(options: RmcpBmcOptions, driver: RmcpSessionDriver = {}) {
    this.member = options.member;
    this.session = new RmcpSession(options, driver);
  }

  /** Counters of the session (opens, dropped datagrams, keepalives, last open time). */
  get stats(): Readonly<SessionStats> {
    return this.session.stats;
  }

  /** True while a session is believed open. */
  get warmNow(): boolean {
    return this.session.established;
  }

  async status(): Promise<PowerState> {
    const data = await this.session.command('status', Command.getChassisStatus.netFn, Command.getChassisStatus.cmd);
    try {
      return powerFromChassisStatus(data);
    } catch (error) {
      throw new BmcError(
        this.member,
        'status',
        'garbage',
        isRmcpCodecError(error) ? error.message : 'no power state in the answer',
      );
    }
  }

  /** Get System GUID (App 0x37): 16 bytes. */
  async identity(): Promise<SystemIdentity> {
    const data = await this.session.command('identity', Command.getSystemGuid.netFn, Command.getSystemGuid.cmd);
    if (data.length < 16)
      throw new BmcError(this.member, 'identity', 'garbage', `Get System GUID answered ${data.length} bytes, not 16`);
    return { source: 'ipmi-guid', bytes: Uint8Array.from(data.subarray(0, 16)) };
  }

  async on(): Promise<void> {
    await this.session.command(
      'on',
      Command.chassisControl.netFn,
      Command.chassisControl.cmd,
      Buffer.from([ChassisControl.on]),
    );
  }

  async off(): Promise<void> {
    await this.session.command(
      'off',
      Command.chassisControl.netFn,
      Command.chassisControl.cmd,
      Buffer.from([ChassisControl.off]),
    );
  }

  async cycle(): Promise<void> {
    await this.session.command(
      'cycle',
      Command.chassisControl.netFn,
      Command.chassisControl.cmd,
      Buffer.from([ChassisControl.cycle]),
    );
  }

  /** Opens the session now and keeps it alive, so that the next operation is one round trip. */
  warm(): Promise<void> {
    return this.session.open();
  }

  /** Close Session, keepalive stopped, socket released; a later operation opens a new session. */
  close(): Promise<void> {
    return this.session.close();
  }

  /** Opens (and keeps) this session and sends Close Session naming each leftover session. */
  reclaim(records: readonly SessionRecord[]): Promise<ReclaimOutcome[]> {
    return this.session.reclaim(records);
  }
}

/** What `RmcpBmcFactory.reclaim()` did with the leftovers of a previous run. */
export interface ReclaimReport {
  /** Leftovers named in Close Session, by outcome. */
  outcomes: ReclaimOutcome[];
  /** Leftovers on a BMC no member is configured with any more: forgotten, not closed. */
  forgotten: SessionRecord[];
  /** Members whose leftovers could not be closed now (they stay for the next run). */
  failures: Map<string, BmcError>;
}

/** What the factory's drivers share; `transportFor` gives each member its own (tests), default UDP. */
export type RmcpFactoryDriver = Omit<RmcpSessionDriver, 'transport'> & {
  transportFor?: (options: RmcpBmcOptions) => DatagramTransport;
};

/** Keeps one `RmcpBmc` (one session) per member. */
export class RmcpBmcFactory implements BmcFactory {
  private readonly members: ReadonlyMap<string, RmcpBmcOptions>;
  private readonly driver: RmcpFactoryDriver;
  private readonly open_ = new Map<string, RmcpBmc>();

  constructor(members: readonly RmcpBmcOptions[], driver: RmcpFactoryDriver = {}) {
    this.members = new Map(members.map((options) => [options.member, options]));
    this.driver = driver;
  }

  open(member: string): RmcpBmc {
    const existing = this.open_.get(member);
    if (existing !== undefined) {
      return existing;
    }
    const options = this.members.get(member);
    if (options === undefined) {
      throw new BmcError(member, 'open', 'unreachable', 'no BMC configured for this member');
    }
    const { transportFor, ...shared } = this.driver;
    const bmc = new RmcpBmc(
      options,
      transportFor === undefined ? shared : { ...shared, transport: transportFor(options) },
    );
    this.open_.set(member, bmc);
    return bmc;
  }

  /** Opens every configured member's session; resolves when all tried, with the failures by member. */
  async warmAll(): Promise<Map<string, BmcError>> {
    const failures = new Map<string, BmcError>();
    await Promise.all(
      [...this.members.keys()].map(async (member) => {
        try {
          await this.open(member).warm();
        } catch (error) {
          failures.set(
            member,
            error instanceof BmcError ? error : new BmcError(member, 'open', 'garbage', String(error)),
          );
        }
      }),
    );
    return failures;
  }

  /**
   * Closes the sessions a previous run left open (the journal's leftovers), each BMC through
   * a fresh session of its member, which stays open and warm. Resolves when all were tried.
   */
  async reclaim(): Promise<ReclaimReport> {
    const report: ReclaimReport = { outcomes: [], forgotten: [], failures: new Map() };
    const journal = this.driver.journal;
    if (journal === undefined) return report;
    const byMember = new Map<string, SessionRecord[]>();
    for (const record of journal.leftovers()) {
      const member = [...this.members.values()].find((o) => o.host === record.host && o.port === record.port);
      if (member === undefined) {
        report.forgotten.push(record);
        journal.closed(record);
        continue;
      }
      byMember.set(member.member, [...(byMember.get(member.member) ?? []), record]);
    }
    await Promise.all(
      [...byMember].map(async ([member, records]) => {
        try {
          report.outcomes.push(...(await this.open(member).reclaim(records)));
        } catch (error) {
          report.failures.set(
            member,
            error instanceof BmcError ? error : new BmcError(member, 'reclaim', 'garbage', String(error)),
          );
        }
      }),
    );
    return report;
  }

  /** Closes every session opened so far. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open_.values()].map((bmc) => bmc.close()));
  }
}
