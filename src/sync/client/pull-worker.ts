/**
 * The monitor's pulls run in this worker thread: decrypting, hashing and writing a large
 * file then never holds up the agent's main thread, whose probe timers and ICMP replies
 * decide failovers within milliseconds. One pull at a time; messages in pull-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isSyncError } from '../../../hal/errors/index.js';
import { pull } from './client.js';
import { HashCache } from '../files/hash-cache.js';
import { describe } from '../files/manifest.js';
import type { FromWorker, PullWorkerData, ToWorker } from './pull-thread.js';
import { SyncKey } from '../wire/psk.js';

const port = parentPort;
if (port === null) throw new Error('pull-worker runs as a worker thread');
const data = workerData as PullWorkerData;
const key = SyncKey.fromDerived(data.psk);
const cache = new HashCache();
let current: AbortController | null = null;
const post = (message: FromWorker): void => port.postMessage(message);

port.on('message', (message: ToWorker) => {
  if (message.type === 'abort') {
    current?.abort(message.reason);
    return;
  }
  const abort = new AbortController();
  current = abort;
  pull({
    roots: data.roots,
    key,
    host: message.host,
    port: data.port,
    timeoutMs: data.timeoutMs,
    limits: data.limits,
    cache,
    signal: abort.signal,
    ...(data.asideDir === null ? {} : { asideDir: data.asideDir }),
    log: (level, event, text, fields = {}) => post({ type: 'log', level, event, message: text, fields }),
  })
    .then(
      (result) => post({ type: 'done', id: message.id, result }),
      (error: unknown) =>
        post({
          type: 'failed',
          id: message.id,
          kind: isSyncError(error) ? error.kind : 'io',
          message: describe(error),
        }),
    )
    .finally(() => {
      if (current === abort) current = null;
    });
});
