/**
 * A kept Redfish session: opened with POST SessionService/Sessions (the X-Auth-Token comes
 * back), used for every request, opened again once when the BMC answers 401 (it expired or
 * the BMC restarted), and DELETEd at close so the BMC's few session slots are not leaked.
 * A client that was killed (its server powered off) cannot log out: its session holds a slot
 * until the BMC expires it (often 30 min). When the BMC refuses a login for want of slots
 * (503), each request goes with HTTP Basic instead, until a login succeeds again: a fence
 * must not wait for another client's session to time out.
 */
import { readFile } from 'node:fs/promises';
import { BmcError } from '../../errors/bmc-error.js';
import { redfishRequest } from './transport.js';
import type { RedfishAnswer, RedfishCall, RedfishTarget } from './transport.js';
import { messageOf } from './message.js';

export const SESSIONS_PATH = '/redfish/v1/SessionService/Sessions';

export class RedfishSession {
  private token: string | null = null;
  private location: string | null = null;
  /** The last login was refused with 503 (no session slot free). */
  private slotsFull = false;

  constructor(
    private readonly target: RedfishTarget,
    private readonly username: string,
    private readonly passwordFile: string,
  ) {}

  get open(): boolean {
    return this.token !== null;
  }

  /** True while requests go with HTTP Basic because the BMC had no session slot free. */
  get basic(): boolean {
    return this.slotsFull && this.token === null;
  }

  /**
   * One request with the session's token; a 401 re-opens the session once and repeats it.
   * With no session slot free on the BMC: the request with HTTP Basic.
   */
  async call(operation: string, call: RedfishCall, deadlineMs: number): Promise<RedfishAnswer> {
    for (let attempt = 0; ; attempt += 1) {
      const auth = await this.authHeader(operation, deadlineMs);
      const answer = await redfishRequest(
        this.target,
        operation,
        { ...call, headers: { ...call.headers, ...auth } },
        deadlineMs,
      );
      if (answer.status !== 401 || attempt > 0 || auth['X-Auth-Token'] === undefined) return answer;
      this.token = null;
      this.location = null;
    }
  }

  private async authHeader(operation: string, deadlineMs: number): Promise<Record<string, string>> {
    try {
      return { 'X-Auth-Token': await this.ensure(operation, deadlineMs) };
    } catch (error) {
      if (!this.slotsFull) throw error;
      const password = await this.readPassword(operation);
      return { Authorization: `Basic ${Buffer.from(`${this.username}:${password}`, 'utf8').toString('base64')}` };
    }
  }

  async ensure(operation: string, deadlineMs: number): Promise<string> {
    if (this.token !== null) return this.token;
    const password = await this.readPassword(operation);
    const answer = await redfishRequest(
      this.target,
      operation,
      { method: 'POST', path: SESSIONS_PATH, body: { UserName: this.username, Password: password } },
      deadlineMs,
    );
    if (answer.status === 401 || answer.status === 403)
      throw new BmcError(
        this.target.member,
        operation,
        'auth',
        `session login refused (${answer.status}${messageOf(answer.body)})`,
      );
    const token = answer.headers['x-auth-token'];
    this.slotsFull = answer.status === 503;
    if (answer.status < 200 || answer.status >= 300)
      throw new BmcError(
        this.target.member,
        operation,
        'refused',
        `session login: ${answer.status}${messageOf(answer.body)}`,
      );
    if (typeof token !== 'string' || token === '')
      throw new BmcError(this.target.member, operation, 'garbage', 'session login answered without an X-Auth-Token');
    const location = answer.headers.location ?? (answer.body as { '@odata.id'?: unknown } | null)?.['@odata.id'];
    this.token = token;
    this.location = typeof location === 'string' ? new URL(location, 'https://bmc').pathname : null;
    return token;
  }

  /** Logs the session out (DELETE); best effort, the session is forgotten either way. */
  async close(deadlineMs: number): Promise<void> {
    const token = this.token;
    const location = this.location;
    this.token = null;
    this.location = null;
    if (token === null || location === null) return;
    await redfishRequest(
      this.target,
      'close',
      { method: 'DELETE', path: location, headers: { 'X-Auth-Token': token } },
      deadlineMs,
    ).catch(() => undefined);
  }

  private async readPassword(operation: string): Promise<string> {
    try {
      return (await readFile(this.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new BmcError(
        this.target.member,
        operation,
        'auth',
        `password file ${this.passwordFile} is not readable (${code})`,
      );
    }
  }
}
