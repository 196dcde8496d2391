/** Runs pulls in the worker thread of pull-worker.ts, one at a time, started on first use. */
import { Worker } from 'node:worker_threads';
import { SyncError } from '../../../hal/errors/index.js';
import type { SyncErrorKind } from '../../../hal/errors/sync-error.js';
import type { LogFields } from '../../log/index.js';
import type { PullResult } from './client.js';
import type { Limits } from '../wire/limits.js';
import type { SyncKey } from '../wire/psk.js';
import type { SyncLog, SyncLogLevel } from '../sync-log.js';

export interface PullWorkerData {
  roots: string[];
  psk: Uint8Array;
  port: number;
  timeoutMs: number;
  limits: Limits;
  /** `<state_dir>/sync-aside`, or null (client.ts PullOptions.asideDir). */
  asideDir: string | null;
}

export type ToWorker = { type: 'pull'; id: number; host: string } | { type: 'abort'; reason: string };

export type FromWorker =
  | { type: 'done'; id: number; result: PullResult }
  | { type: 'failed'; id: number; kind: SyncErrorKind; message: string }
  | { type: 'log'; level: SyncLogLevel; event: string; message: string; fields: LogFields };

export interface PullThreadOptions {
  roots: readonly string[];
  key: SyncKey;
  port: number;
  timeoutMs: number;
  limits: Limits;
  log: SyncLog;
  asideDir: string | null;
}

export class PullThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending: { id: number; resolve: (result: PullResult) => void; reject: (error: Error) => void } | null = null;

  constructor(private readonly options: PullThreadOptions) {}

  run(host: string, signal: AbortSignal): Promise<PullResult> {
    if (this.pending !== null) return Promise.reject(new Error('a pull is already running'));
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<PullResult>((resolve, reject) => {
      const onAbort = (): void =>
        worker.postMessage({ type: 'abort', reason: String(signal.reason ?? 'aborted') } satisfies ToWorker);
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        id,
        resolve: (result) => {
          signal.removeEventListener('abort', onAbort);
          resolve(result);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      worker.postMessage({ type: 'pull', id, host } satisfies ToWorker);
      if (signal.aborted) onAbort();
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const data: PullWorkerData = {
      roots: [...this.options.roots],
      psk: this.options.key.derivedForWorker(),
      port: this.options.port,
      timeoutMs: this.options.timeoutMs,
      limits: this.options.limits,
      asideDir: this.options.asideDir,
    };
    const worker = new Worker(new URL('./pull-worker.js', import.meta.url), { workerData: data });
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    const lost = (why: string): void => {
      if (this.worker === worker) this.worker = null;
      const pending = this.pending;
      this.pending = null;
      pending?.reject(new SyncError('io', `the pull thread ${why}`));
    };
    worker.on('error', (error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code) => lost(`exited (code ${code})`));
    // The agent's exit never waits for an idle worker (after the listeners, which ref it).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'log') {
      this.options.log(message.level, message.event, message.message, message.fields);
      return;
    }
    const pending = this.pending;
    if (pending === null || pending.id !== message.id) return;
    this.pending = null;
    if (message.type === 'done') pending.resolve(message.result);
    // The worker's message already reads `sync: KIND: detail`; keep the detail only.
    else pending.reject(new SyncError(message.kind, message.message.replace(/^sync: [a-z]+: /, '')));
  }
}
