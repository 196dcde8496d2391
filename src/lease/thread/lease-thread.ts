/**
 * The agent thread's side of the lease worker thread (./worker.ts): a PeerTransport for the
 * heartbeat (its datagrams go through the worker's sockets) and the LeaseHandle the executor
 * drives. The worker starts at once, so the sockets are bound before the heartbeat starts.
 */
import { Worker } from 'node:worker_threads';
import type { Clock } from '../../../hal/clock/index.js';
import type { PeerDatagram, PeerPathName, PeerTransport } from '../../../hal/peer/index.js';
import type { PeerKey } from '../../peer/key.js';
import type { LeaseCallbacks, LeaseHandle } from '../handle.js';
import type { LeaseStatus } from '../service.js';
import type { FromLeaseWorker, LeaseWorkerData, ToLeaseWorker } from './messages.js';

export interface LeaseThreadOptions extends Omit<LeaseWorkerData, 'key'> {
  key: PeerKey;
  clock: Clock;
  /** For the agent's log: the worker's start, its sockets, and its end. */
  log: LeaseCallbacks['log'];
  /** The worker ended while the agent runs: no lease and no heartbeat any more. */
  onFailed: (detail: string) => void;
}

export class LeaseThread {
  private readonly worker: Worker;
  private readonly listeners: Array<(datagram: PeerDatagram) => void> = [];
  private readonly bound = new Set<PeerPathName>();
  private callbacks: LeaseCallbacks | null = null;
  private untilUs: number | null = null;
  private lastStatus: LeaseStatus | null = null;
  private stopped = false;
  /** The heartbeat's transport: sends and hears through the worker's sockets. */
  readonly transport: PeerTransport;

  constructor(private readonly o: LeaseThreadOptions) {
    const { key, clock: _clock, log: _log, onFailed: _onFailed, ...rest } = o;
    const data: LeaseWorkerData = { ...rest, key: key.derivedForWorker() };
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    // The worker has its own copy (workerData is cloned); this one is not kept.
    data.key.fill(0);
    this.worker.on('message', (message: FromLeaseWorker) => this.onMessage(message));
    this.worker.on('error', (error) => this.failed(`failed: ${error.message}`));
    this.worker.on('exit', (code) => this.failed(`exited (code ${code})`));
    this.transport = {
      send: (path, address, port, data) => this.post({ type: 'send', path, address, port, data }),
      onDatagram: (listener) => this.listeners.push(listener),
      bound: () => [...this.bound],
      close: () => undefined,
    };
  }

  /**
   * The lease service in the worker, reporting to `callbacks`. One per agent process: a
   * second call is a wiring mistake (the first caller would stop hearing of its lease) and
   * throws.
   */
  handle(callbacks: LeaseCallbacks): LeaseHandle {
    if (this.callbacks !== null)
      throw new Error('LeaseThread.handle: already handed out (one lease service per agent)');
    this.callbacks = callbacks;
    return {
      acquire: (epoch) => this.post({ type: 'acquire', epoch }),
      release: () => this.post({ type: 'release' }),
      reassert: () => this.post({ type: 'assigned' }),
      addressGone: () => this.post({ type: 'gone' }),
      // The worker's latest word on the lease's end: it may be a message behind (a grant
      // that moved it later, or the loss that ended it). An assign on a lease that ended
      // meanwhile is removed by the enforcer at once (reassert tells it the deadline again).
      leftUs: () => (this.untilUs === null ? 0 : Math.max(0, this.untilUs - this.o.clock.nowUs())),
      status: () => this.status(),
      stop: () => this.stop(),
    };
  }

  /** Ends the worker: its lease service stops (an armed enforcer still fires), its sockets close. */
  stop(): void {
    if (this.stopped) return;
    this.post({ type: 'stop' });
    this.stopped = true;
    // The agent's exit never waits for the worker.
    this.worker.unref();
  }

  private status(): LeaseStatus {
    const s = this.lastStatus ?? emptyStatus();
    if (s.holder === null) return s;
    const msLeft = this.untilUs === null ? null : Math.max(0, Math.ceil((this.untilUs - this.o.clock.nowUs()) / 1000));
    return { ...s, holder: { ...s.holder, msLeft } };
  }

  private post(message: ToLeaseWorker): void {
    if (!this.stopped) this.worker.postMessage(message);
  }

  private onMessage(m: FromLeaseWorker): void {
    const c = this.callbacks;
    switch (m.type) {
      case 'ready':
        return this.o.log('info', 'lease-thread', `lease service on its own thread: ${m.description}`);
      case 'datagram':
        for (const l of [...this.listeners]) l(m.datagram);
        return;
      case 'bound':
        this.bound.add(m.path);
        return this.o.log('info', 'peer-bound', `peer heartbeat on ${m.path} bound to ${m.address}:${this.o.port}`, {
          path: m.path,
          address: m.address,
        });
      case 'bind-problem':
        this.bound.delete(m.path);
        return this.o.log('warn', 'peer-bind', `peer heartbeat on ${m.path}: ${m.detail}`, {
          path: m.path,
          address: m.address,
        });
      case 'state':
        this.untilUs = m.untilUs;
        return;
      case 'status':
        this.lastStatus = m.status;
        return;
      case 'held':
        return c?.onHeld(m.epoch, m.detail);
      case 'lost':
        return c?.onLost(m.epoch, m.detail);
      case 'yield':
        return c?.onYield(m.epoch, m.detail);
      case 'log':
        return this.o.log(m.level, m.event, m.message, m.fields);
    }
  }

  private failed(detail: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.untilUs = null;
    this.o.onFailed(`the lease thread ${detail}`);
  }
}

function emptyStatus(): LeaseStatus {
  return {
    voter: { highestEpoch: 0, promisedTo: null, promiseMsLeft: null, quietMsLeft: 0 },
    holder: null,
    grantsSent: 0,
    refusalsSent: 0,
    dropped: 0,
    lateRequests: 0,
    worstLateMs: null,
  };
}
