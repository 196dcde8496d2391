/**
 * BMC driver that speaks Redfish itself (HTTPS, node:https/tls) and keeps one session per
 * BMC: status reads the ComputerSystem's PowerState; off/on/cycle POST
 * ComputerSystem.Reset with ForceOff/On/PowerCycle and resolve when the BMC accepted it
 * (200/204), or, when it answers 202 with a task monitor, when that task ended (bounded by
 * the same deadline). The system is the board's `bmc.redfish.system` or the only member of
 * the service root's Systems collection. Every operation has one deadline, on monotonic time.
 */
import { BmcError } from '../../errors/bmc-error.js';
import type { Bmc, BmcFactory, PowerState, SystemIdentity } from '../index.js';
import { messageOf } from './message.js';
import { RedfishSession } from './session.js';
import { redfishRequest } from './transport.js';
import type { RedfishAnswer, RedfishTarget, TlsCheck } from './transport.js';

export type { TlsCheck } from './transport.js';

export interface RedfishBmcOptions {
  member: string;
  host: string;
  port: number;
  username: string;
  passwordFile: string;
  tls: TlsCheck;
  /** The ComputerSystem's path; null: found from the service root. */
  system: string | null;
  /** Upper bound for one operation (every request and task poll in it). */
  timeoutMs: number;
  /** False: the board says this BMC takes no `PowerCycle` reset, and `cycle` is refused. Default true. */
  powerCycleSupported?: boolean;
}

type ResetType = 'ForceOff' | 'On' | 'PowerCycle';

const TASK_POLL_MS = 200;
const CLOSE_LIMIT_MS = 2000;

export class RedfishBmc implements Bmc {
  readonly member: string;
  private readonly target: RedfishTarget;
  private readonly session: RedfishSession;
  private system: string | null;
  private resetTarget: string | null = null;

  constructor(private readonly options: RedfishBmcOptions) {
    this.member = options.member;
    this.target = { member: options.member, host: options.host, port: options.port, tls: options.tls };
    this.session = new RedfishSession(this.target, options.username, options.passwordFile);
    this.system = options.system;
  }

  /** True while a session is believed open. */
  get sessionOpen(): boolean {
    return this.session.open;
  }

  /** True while requests go with HTTP Basic: the BMC had no session slot free at the last login. */
  get basicAuth(): boolean {
    return this.session.basic;
  }

  /** Opens the session and finds the system ahead of need. */
  async warm(): Promise<void> {
    const deadline = this.deadline();
    await this.session.ensure('warm', deadline);
    await this.systemPath('warm', deadline);
  }

  async status(): Promise<PowerState> {
    const deadline = this.deadline();
    const answer = await this.get('status', await this.systemPath('status', deadline), deadline);
    const power = (answer.body as { PowerState?: unknown } | null)?.PowerState;
    // Only Off is off: a server powering off or on still has power.
    if (power === 'Off') return 'off';
    if (power === 'On' || power === 'PoweringOff' || power === 'PoweringOn' || power === 'Paused') return 'on';
    throw new BmcError(this.member, 'status', 'garbage', `PowerState is ${JSON.stringify(power ?? null)}`);
  }

  /** The ComputerSystem's UUID. */
  async identity(): Promise<SystemIdentity> {
    const deadline = this.deadline();
    const answer = await this.get('identity', await this.systemPath('identity', deadline), deadline);
    const uuid = (answer.body as { UUID?: unknown } | null)?.UUID;
    if (typeof uuid !== 'string' || uuid === '')
      throw new BmcError(this.member, 'identity', 'garbage', 'the ComputerSystem has no UUID');
    return { source: 'redfish-uuid', uuid };
  }

  async off(): Promise<void> {
    await this.reset('off', 'ForceOff');
  }

  async on(): Promise<void> {
    await this.reset('on', 'On');
  }

  async cycle(): Promise<void> {
    if (this.options.powerCycleSupported === false)
      throw new BmcError(
        this.member,
        'cycle',
        'refused',
        'the board says this BMC takes no PowerCycle reset; use power_cycle off-on',
      );
    await this.reset('cycle', 'PowerCycle');
  }

  /** Ends the session on the BMC (DELETE), so its slot is free. */
  async close(): Promise<void> {
    await this.session.close(performance.now() + CLOSE_LIMIT_MS);
  }

  private async reset(operation: string, type: ResetType): Promise<void> {
    const deadline = this.deadline();
    await this.systemPath(operation, deadline);
    const target = this.resetTarget ?? `${this.system ?? ''}/Actions/ComputerSystem.Reset`;
    const answer = await this.session.call(
      operation,
      { method: 'POST', path: target, body: { ResetType: type } },
      deadline,
    );
    this.check(operation, answer, `POST ${target} ${type}`);
    if (answer.status === 202) await this.followTask(operation, answer, deadline);
  }

  /** Polls a task monitor until the task ended; its failure is `refused`, the deadline `timeout`. */
  private async followTask(operation: string, accepted: RedfishAnswer, deadline: number): Promise<void> {
    const location = accepted.headers.location ?? (accepted.body as { '@odata.id'?: unknown } | null)?.['@odata.id'];
    if (typeof location !== 'string') return; // 202 without a monitor: accepted is all we learn
    const path = new URL(location, 'https://bmc').pathname;
    for (;;) {
      if (performance.now() + TASK_POLL_MS >= deadline)
        throw new BmcError(this.member, operation, 'timeout', `task ${path} still running at the deadline`);
      await new Promise((resolve) => setTimeout(resolve, TASK_POLL_MS));
      const answer = await this.session.call(operation, { method: 'GET', path }, deadline);
      if (answer.status === 202) continue;
      this.check(operation, answer, `GET ${path}`);
      const state = (answer.body as { TaskState?: unknown } | null)?.TaskState;
      if (state === undefined || state === 'Completed') return;
      if (state === 'Exception' || state === 'Killed' || state === 'Cancelled')
        throw new BmcError(
          this.member,
          operation,
          'refused',
          `task ${path} ended ${String(state)}${messageOf(answer.body)}`,
        );
    }
  }

  /** The system's path, found once: the board's, or the only member of Systems. */
  private async systemPath(operation: string, deadline: number): Promise<string> {
    if (this.system !== null && this.resetTarget !== null) return this.system;
    if (this.system === null) {
      const root = await redfishRequest(this.target, operation, { method: 'GET', path: '/redfish/v1' }, deadline);
      this.check(operation, root, 'GET /redfish/v1');
      const systems = (root.body as { Systems?: { '@odata.id'?: unknown } } | null)?.Systems?.['@odata.id'];
      if (typeof systems !== 'string')
        throw new BmcError(this.member, operation, 'garbage', 'the service root names no Systems collection');
      const collection = await this.get(operation, systems, deadline);
      const members = (collection.body as { Members?: unknown } | null)?.Members;
      const paths = Array.isArray(members)
        ? members.map((m) => (m as { '@odata.id'?: unknown })['@odata.id']).filter((p) => typeof p === 'string')
        : [];
      if (paths.length !== 1)
        throw new BmcError(
          this.member,
          operation,
          'refused',
          `${systems} has ${paths.length} systems; name ours in bmc.redfish.system`,
        );
      this.system = paths[0] as string;
    }
    const system = await this.get(operation, this.system, deadline);
    const reset = (system.body as { Actions?: Record<string, { target?: unknown }> } | null)?.Actions?.[
      '#ComputerSystem.Reset'
    ]?.target;
    this.resetTarget = typeof reset === 'string' ? reset : `${this.system}/Actions/ComputerSystem.Reset`;
    return this.system;
  }

  private async get(operation: string, path: string, deadline: number): Promise<RedfishAnswer> {
    const answer = await this.session.call(operation, { method: 'GET', path }, deadline);
    this.check(operation, answer, `GET ${path}`);
    return answer;
  }

  /** A status that is no success, as a typed error. */
  private check(operation: string, answer: RedfishAnswer, what: string): void {
    if (answer.status >= 200 && answer.status < 300) return;
    const kind = answer.status === 401 || answer.status === 403 ? 'auth' : 'refused';
    throw new BmcError(this.member, operation, kind, `${what}: ${answer.status}${messageOf(answer.body)}`);
  }

  private deadline(): number {
    return performance.now() + this.options.timeoutMs;
  }
}

/** One RedfishBmc per member, kept: its session lives between fences. */
export class RedfishBmcFactory implements BmcFactory {
  private readonly options: ReadonlyMap<string, RedfishBmcOptions>;
  private readonly open_ = new Map<string, RedfishBmc>();

  constructor(members: readonly RedfishBmcOptions[]) {
    this.options = new Map(members.map((options) => [options.member, options]));
  }

  open(member: string): RedfishBmc {
    const existing = this.open_.get(member);
    if (existing !== undefined) return existing;
    const options = this.options.get(member);
    if (options === undefined) throw new BmcError(member, 'open', 'unreachable', 'no BMC configured for this member');
    const bmc = new RedfishBmc(options);
    this.open_.set(member, bmc);
    return bmc;
  }

  /** Logs every open session out. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open_.values()].map((bmc) => bmc.close()));
  }
}
