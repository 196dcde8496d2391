/**
 * A small Redfish BMC for the lab, shaped after DMTF's public mockups: the service root,
 * SessionService/Sessions (session login with X-Auth-Token, logout by DELETE), one
 * ComputerSystem with PowerState and Actions/#ComputerSystem.Reset, and a TaskService for a
 * reset answered `202 Accepted` (on request). HTTP Basic and session auth, HTTPS only, a
 * session limit like real BMCs. The power itself is the caller's (`RedfishPower`), so the
 * lab's slow-BMC semantics apply: ForceOff accepted at once, PowerState Off later.
 */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';

export type ResetType = 'On' | 'ForceOff' | 'ForceRestart' | 'PowerCycle' | 'GracefulShutdown';
export const RESET_TYPES: readonly ResetType[] = ['On', 'ForceOff', 'ForceRestart', 'PowerCycle', 'GracefulShutdown'];

export interface RedfishPower {
  /** The power as the hardware has it now. */
  state(): Promise<'On' | 'Off'>;
  /** Carries out (or starts) a reset; resolves when the BMC would acknowledge it. */
  reset(type: ResetType): Promise<void>;
}

export interface RedfishBmcOptions {
  host: string;
  port: number;
  cert: string;
  key: string;
  user: string;
  password: string;
  power: RedfishPower;
  /** Sessions open at once before a login is refused (real BMCs: 4 to 15). */
  sessionLimit: number;
  /** Answer resets with 202 and a task that runs this long (0: 204 at once). */
  taskMs: number;
  /** The ComputerSystem's UUID (the server's SMBIOS UUID); absent: none reported. */
  uuid?: string;
}

const SYSTEM = '/redfish/v1/Systems/1';
const RESET = `${SYSTEM}/Actions/ComputerSystem.Reset`;
const SESSIONS = '/redfish/v1/SessionService/Sessions';
const TASKS = '/redfish/v1/TaskService/Tasks';
const MAX_BODY = 16 * 1024;

interface Task {
  id: string;
  state: 'Running' | 'Completed' | 'Exception';
}

export class RedfishBmc {
  private readonly sessions = new Map<string, { id: string; token: string }>();
  private readonly tasks = new Map<string, Task>();
  private server: Server | null = null;
  private nextId = 1;
  /** Every request, for tests: method, path and the status answered. */
  readonly requests: Array<{ method: string; path: string; status: number }> = [];

  constructor(private readonly options: RedfishBmcOptions) {}

  get openSessions(): number {
    return this.sessions.size;
  }

  async listen(): Promise<void> {
    const server = createServer({ cert: this.options.cert, key: this.options.key }, (req, res) => {
      void this.handle(req, res).catch((error: unknown) =>
        this.send(req, res, 500, errorBody('Base.1.0.InternalError', String(error))),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.server === null) return resolve();
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]?.replace(/\/$/, '') ?? '';
    const body = await readBody(req);
    if (method === 'GET' && (path === '/redfish/v1' || path === '/redfish')) {
      // The service root answers without authentication (DSP0266).
      return this.send(req, res, 200, serviceRoot());
    }
    if (method === 'POST' && path === SESSIONS) return this.login(req, res, body);
    if (!this.authorized(req)) {
      return this.send(req, res, 401, errorBody('Base.1.0.NoValidSession', 'authentication required'), {
        'WWW-Authenticate': 'Basic realm="hotspare lab BMC"',
      });
    }
    if (method === 'GET' && path === '/redfish/v1/Systems') {
      return this.send(req, res, 200, {
        '@odata.id': '/redfish/v1/Systems',
        '@odata.type': '#ComputerSystemCollection.ComputerSystemCollection',
        Name: 'Computer System Collection',
        'Members@odata.count': 1,
        Members: [{ '@odata.id': SYSTEM }],
      });
    }
    if (method === 'GET' && path === SYSTEM) return this.send(req, res, 200, await this.system());
    if (method === 'POST' && path === RESET) return this.reset(req, res, body);
    if (method === 'GET' && path === SESSIONS) {
      return this.send(req, res, 200, {
        '@odata.id': SESSIONS,
        'Members@odata.count': this.sessions.size,
        Members: [...this.sessions.values()].map((s) => ({ '@odata.id': `${SESSIONS}/${s.id}` })),
      });
    }
    if (method === 'DELETE' && path.startsWith(`${SESSIONS}/`)) {
      const id = path.slice(SESSIONS.length + 1);
      const entry = [...this.sessions].find(([, s]) => s.id === id);
      if (entry === undefined) return this.send(req, res, 404, errorBody('Base.1.0.ResourceMissingAtURI', path));
      this.sessions.delete(entry[0]);
      return this.send(req, res, 204, null);
    }
    if (method === 'GET' && path.startsWith(`${TASKS}/`)) {
      const task = this.tasks.get(path.slice(TASKS.length + 1));
      if (task === undefined) return this.send(req, res, 404, errorBody('Base.1.0.ResourceMissingAtURI', path));
      const body = { '@odata.id': path, Id: task.id, TaskState: task.state, TaskStatus: 'OK' };
      // A task monitor answers 202 while the task runs, then the task itself.
      return this.send(req, res, task.state === 'Running' ? 202 : 200, body);
    }
    return this.send(req, res, 404, errorBody('Base.1.0.ResourceMissingAtURI', path));
  }

  private login(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const fields = (body ?? {}) as { UserName?: unknown; Password?: unknown };
    if (typeof fields.UserName !== 'string' || typeof fields.Password !== 'string')
      return this.send(req, res, 400, errorBody('Base.1.0.PropertyMissing', 'UserName and Password are required'));
    if (!this.credentialsMatch(fields.UserName, fields.Password))
      return this.send(req, res, 401, errorBody('Base.1.0.NoValidSession', 'invalid credentials'));
    if (this.sessions.size >= this.options.sessionLimit)
      return this.send(req, res, 503, errorBody('Base.1.0.SessionLimitExceeded', 'too many sessions'));
    const id = String(this.nextId++);
    const token = randomBytes(16).toString('hex');
    this.sessions.set(token, { id, token });
    this.send(
      req,
      res,
      201,
      { '@odata.id': `${SESSIONS}/${id}`, Id: id, UserName: fields.UserName },
      { 'X-Auth-Token': token, Location: `${SESSIONS}/${id}` },
    );
  }

  private async reset(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const type = (body as { ResetType?: unknown } | null)?.ResetType;
    if (typeof type !== 'string' || !(RESET_TYPES as readonly string[]).includes(type))
      return this.send(req, res, 400, errorBody('Base.1.0.ActionParameterNotSupported', `ResetType ${String(type)}`));
    if (this.options.taskMs <= 0) {
      await this.options.power.reset(type as ResetType);
      return this.send(req, res, 204, null);
    }
    const task: Task = { id: String(this.nextId++), state: 'Running' };
    this.tasks.set(task.id, task);
    setTimeout(() => {
      this.options.power.reset(type as ResetType).then(
        () => (task.state = 'Completed'),
        () => (task.state = 'Exception'),
      );
    }, this.options.taskMs);
    this.send(
      req,
      res,
      202,
      { '@odata.id': `${TASKS}/${task.id}`, Id: task.id, TaskState: 'Running' },
      {
        Location: `${TASKS}/${task.id}`,
      },
    );
  }

  private async system(): Promise<unknown> {
    return {
      '@odata.id': SYSTEM,
      '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
      Id: '1',
      Name: 'hotspare lab server',
      SystemType: 'Physical',
      ...(this.options.uuid === undefined ? {} : { UUID: this.options.uuid }),
      PowerState: await this.options.power.state(),
      Actions: {
        '#ComputerSystem.Reset': { target: RESET, 'ResetType@Redfish.AllowableValues': RESET_TYPES },
      },
    };
  }

  private authorized(req: IncomingMessage): boolean {
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string') return this.sessions.has(token);
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (basic === undefined) return false;
    const text = Buffer.from(basic, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    return colon > 0 && this.credentialsMatch(text.slice(0, colon), text.slice(colon + 1));
  }

  private credentialsMatch(user: string, password: string): boolean {
    const a = Buffer.from(`${user}\0${password}`);
    const b = Buffer.from(`${this.options.user}\0${this.options.password}`);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', status });
    const text = body === null ? '' : JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      ...(body === null ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }),
      'OData-Version': '4.0',
    });
    res.end(text);
  }
}

function serviceRoot(): unknown {
  return {
    '@odata.id': '/redfish/v1',
    '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
    Id: 'RootService',
    Name: 'Root Service',
    RedfishVersion: '1.6.0',
    Systems: { '@odata.id': '/redfish/v1/Systems' },
    SessionService: { '@odata.id': '/redfish/v1/SessionService' },
    Tasks: { '@odata.id': '/redfish/v1/TaskService' },
    Links: { Sessions: { '@odata.id': SESSIONS } },
  };
}

function errorBody(id: string, message: string): unknown {
  return { error: { code: id, message, '@Message.ExtendedInfo': [{ MessageId: id, Message: message }] } };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY) return null;
  }
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
