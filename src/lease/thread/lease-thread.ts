/**
 * The agent thread's side of the lease worker thread (./worker.ts): a PeerTransport for the
 * heartbeat (its datagrams go through the worker's sockets) and the LeaseHandle the executor
 * drives. The worker starts at once, so the sockets are bound before the heartbeat starts.
 * With `twins`, two workers renew the lease, each on a CPU of its own, and ./twin-combiner.ts
 * makes them one lease for the agent; the heartbeat goes through twin 0.
 */
import { Worker } from 'node:worker_threads';
import type { TimerBinding } from '../../../hal/clock/native/binding.js';
import type { Clock } from '../../../hal/clock/index.js';
import type { PeerDatagram, PeerPathName, PeerTransport } from '../../../hal/peer/index.js';
import type { PeerKey } from '../../peer/key.js';
import type { LeaseCallbacks, LeaseHandle } from '../handle.js';
import type { LeaseStatus } from '../service.js';
import { SharedVoterCell } from '../voter-cell.js';
import type { FromLeaseWorker, LeaseWorkerData, ToLeaseWorker } from './messages.js';
import { TwinCombiner } from './twin-combiner.js';
import type { TwinIndex } from './twin-combiner.js';

export interface LeaseThreadOptions extends Omit<LeaseWorkerData, 'key' | 'twin'> {
  key: PeerKey;
  clock: Clock;
  /**
   * Two twin workers (`lease.thread: twins`): twin 1's port, the members asked there too,
   * and the timer addon, whose enforcer channel both reach. null: one worker.
   */
  twins: { twinPort: number; twinMembers: string[]; binding: TimerBinding } | null;
  /** For the agent's log: the worker's start, its sockets, and its end. */
  log: LeaseCallbacks['log'];
  /** The worker ended while the agent runs: no lease and no heartbeat any more. */
  onFailed: (detail: string) => void;
}

export class LeaseThread {
  private readonly workers: Worker[] = [];
  private readonly listeners: Array<(datagram: PeerDatagram) => void> = [];
  private readonly bound = new Set<PeerPathName>();
  private callbacks: LeaseCallbacks | null = null;
  /** Each worker's latest word on its lease's end. */
  private readonly untilUsOf: Array<number | null> = [null, null];
  private readonly statusOf: Array<LeaseStatus | null> = [null, null];
  private readonly twins: TwinCombiner | null;
  /** Under twins: each twin's lease end, written by the twin (see TwinData.ends). */
  private readonly ends: BigInt64Array | null;
  private stopped = false;
  /** The heartbeat's transport: sends and hears through the worker's sockets. */
  readonly transport: PeerTransport;

  constructor(private readonly o: LeaseThreadOptions) {
    const { key, clock: _clock, log: _log, onFailed: _onFailed, twins, ...rest } = o;
    let shared: BigInt64Array | null = null;
    if (twins === null) this.start(0, { ...rest, key: key.derivedForWorker(), twin: null });
    else {
      const cell = SharedVoterCell.create(o.clock.nowUs());
      const ends = new SharedArrayBuffer(16);
      new BigInt64Array(ends).fill(-1n);
      const channelId = o.enforcer === null ? null : twins.binding.channelOpen();
      for (const index of [0, 1] as const)
        this.start(index, {
          ...rest,
          key: key.derivedForWorker(),
          twin: { index, cell, ends, channelId, twinPort: twins.twinPort, twinMembers: twins.twinMembers },
        });
      shared = new BigInt64Array(ends);
    }
    this.ends = shared;
    this.twins =
      twins === null
        ? null
        : new TwinCombiner(
            {
              callbacks: () => this.callbacks,
              nowUs: () => this.o.clock.nowUs(),
              untilUs: (twin) => this.endOf(twin),
              post: (twin, message) => this.postTo(twin, message),
              defer: (task, delayMs) => setTimeout(task, delayMs),
              log: o.log,
            },
            // A claim's longest wait for a grant is about the voters' promise to the old holder.
            Math.ceil(o.timing.durationUs / 1000),
            // Twin 1 asks once the address is assigned and announced.
            Math.ceil(o.renewUs / 1000),
          );
    this.transport = {
      send: (path, address, port, data) => this.postTo(0, { type: 'send', path, address, port, data }),
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
      acquire: (epoch) => (this.twins === null ? this.post({ type: 'acquire', epoch }) : this.twins.acquire(epoch)),
      release: () => (this.twins === null ? this.post({ type: 'release' }) : this.twins.release()),
      reassert: () => this.post({ type: 'assigned' }),
      addressGone: () => this.post({ type: 'gone' }),
      // The workers' latest word on the lease's end: it may be a message behind (a grant
      // that moved it later, or the loss that ended it). An assign on a lease that ended
      // meanwhile is removed by the enforcer at once (reassert tells it the deadline again).
      leftUs: () => {
        const until = this.untilUs();
        return until === null ? 0 : Math.max(0, until - this.o.clock.nowUs());
      },
      status: () => this.status(),
      stop: () => this.stop(),
    };
  }

  /** Ends the worker: its lease service stops (an armed enforcer still fires), its sockets close. */
  stop(): void {
    if (this.stopped) return;
    this.post({ type: 'stop' });
    this.stopped = true;
    // The agent's exit never waits for the workers.
    for (const w of this.workers) w.unref();
  }

  private start(index: TwinIndex, data: LeaseWorkerData): void {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    // The worker has its own copy (workerData is cloned); this one is not kept.
    data.key.fill(0);
    const name = data.twin === null ? 'the lease thread' : `lease twin ${index}`;
    worker.on('message', (message: FromLeaseWorker) => this.onMessage(index, message));
    worker.on('error', (error) => this.failed(`${name} failed: ${error.message}`));
    worker.on('exit', (code) => this.failed(`${name} exited (code ${code})`));
    this.workers[index] = worker;
  }

  /** One worker's latest lease end: from the shared array under twins, else its last message. */
  private endOf(index: TwinIndex): number | null {
    if (this.ends === null) return this.untilUsOf[index] ?? null;
    const v = Atomics.load(this.ends, index);
    return v < 0n ? null : Number(v);
  }

  /** The lease's end: the later twin's (the enforcer keeps the later deadline). */
  private untilUs(): number | null {
    const ends = ([0, 1] as const).map((i) => this.endOf(i)).filter((u): u is number => u !== null);
    return ends.length === 0 ? null : Math.max(...ends);
  }

  private status(): LeaseStatus {
    const s = mergeStatus(this.statusOf[0] ?? emptyStatus(), this.statusOf[1] ?? null);
    if (s.holder === null) return s;
    const until = this.untilUs();
    const msLeft = until === null ? null : Math.max(0, Math.ceil((until - this.o.clock.nowUs()) / 1000));
    return { ...s, holder: { ...s.holder, msLeft } };
  }

  /** To every worker. */
  private post(message: ToLeaseWorker): void {
    for (let i = 0; i < this.workers.length; i++) this.postTo(i as TwinIndex, message);
  }

  private postTo(index: TwinIndex, message: ToLeaseWorker): void {
    if (!this.stopped) this.workers[index]?.postMessage(message);
  }

  private onMessage(index: TwinIndex, m: FromLeaseWorker): void {
    const c = this.callbacks;
    const t = this.twins;
    const twinNote = t === null ? '' : ` (twin ${index})`;
    switch (m.type) {
      case 'ready':
        if (index === 0) t?.started();
        return this.o.log('info', 'lease-thread', `lease service on its own thread${twinNote}: ${m.description}`);
      case 'datagram':
        for (const l of [...this.listeners]) l(m.datagram);
        return;
      case 'bound':
        if (index === 1)
          return this.o.log('info', 'lease-twin-bound', `lease twin 1 on ${m.path} bound to ${m.address}`, {
            path: m.path,
            address: m.address,
          });
        this.bound.add(m.path);
        return this.o.log('info', 'peer-bound', `peer heartbeat on ${m.path} bound to ${m.address}:${this.o.port}`, {
          path: m.path,
          address: m.address,
        });
      case 'bind-problem':
        if (index === 0) this.bound.delete(m.path);
        return this.o.log(
          'warn',
          'peer-bind',
          `peer ${index === 0 ? 'heartbeat' : 'lease twin 1'} on ${m.path}: ${m.detail}`,
          {
            path: m.path,
            address: m.address,
          },
        );
      case 'state':
        this.untilUsOf[index] = m.untilUs;
        return;
      case 'status':
        this.statusOf[index] = m.status;
        return;
      case 'enforced':
        return this.postTo(1, m);
      case 'held':
        return t === null ? c?.onHeld(m.epoch, m.detail) : t.held(index, m.epoch, m.detail);
      case 'lost':
        return t === null ? c?.onLost(m.epoch, m.detail) : t.lost(index, m.epoch, m.detail, m.byEnforcer);
      case 'yield':
        return t === null ? c?.onYield(m.epoch, m.detail) : t.yielded(index, m.epoch, m.detail);
      case 'log':
        return this.o.log(m.level, m.event, `${m.message}${twinNote}`, {
          ...m.fields,
          ...(t === null ? {} : { twin: index }),
        });
    }
  }

  private failed(detail: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.untilUsOf.fill(null);
    // The other twin goes too: the agent hears of one failure, and its lease service is gone.
    for (const w of this.workers) void w.terminate();
    this.o.onFailed(detail);
  }
}

/**
 * Two twins' status as one: the voter is one (shared state: twin 0's word), the holder the
 * twin that holds (or claims), the counts added up.
 */
function mergeStatus(a: LeaseStatus, b: LeaseStatus | null): LeaseStatus {
  if (b === null) return a;
  const holder = a.holder?.held === true ? a.holder : b.holder?.held === true ? b.holder : (a.holder ?? b.holder);
  const worst = [a.worstLateMs, b.worstLateMs].filter((x): x is number => x !== null);
  return {
    voter: a.voter,
    holder,
    grantsSent: a.grantsSent + b.grantsSent,
    refusalsSent: a.refusalsSent + b.refusalsSent,
    dropped: a.dropped + b.dropped,
    lateRequests: a.lateRequests + b.lateRequests,
    worstLateMs: worst.length === 0 ? null : Math.max(...worst),
  };
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
