/**
 * `Replicator` over TLS-PSK (patent [0010], [0027]): the primary serves its key files on the
 * primary address, the monitor pulls what changed every `sync.every_probes` answered probes.
 * One pull at a time: a sync asked for while one runs is skipped. The key file is read once,
 * here; its content never appears in a log, an error or the status.
 */
import type { Replicator, SyncResult } from '../agent/ports.js';
import type { Config } from '../config/index.js';
import { SyncError } from '../../hal/errors/index.js';
import type { AtomicHooks } from './client/atomic-write.js';
import { pull } from './client/client.js';
import { CopyStateFile } from './client/copy-state.js';
import { HashCache } from './files/hash-cache.js';
import { PullThread } from './client/pull-thread.js';
import type { Limits } from './wire/limits.js';
import { SyncKey } from './wire/psk.js';
import { SyncServer } from './server/server.js';
import { join } from 'node:path';
import type { SyncLog } from './sync-log.js';
import { describe } from './files/fs-errors.js';
import type { CopyState } from './wire/types.js';
import { silentLog } from './sync-log.js';

export interface TlsReplicatorOptions {
  /** This server's roots (sync.paths), matched by position with every other server's. */
  paths: readonly string[];
  port: number;
  timeoutMs: number;
  limits: Limits;
  key: SyncKey;
  log?: SyncLog;
  /**
   * state_dir: this server's copy state (copy-state.ts) and `sync-aside/`, where deletions
   * from a primary with an incomplete, empty or much smaller copy go (aside.ts). Absent: no
   * state is recorded or sent, and such deletions are held back and reported.
   */
  stateDir?: string;
  /** Tests: crash points inside atomic writes (implies `thread: 'main'`). */
  hooks?: AtomicHooks;
  /**
   * Where pulls run: `worker` (default) keeps decrypting, hashing and writing off the main
   * thread, whose probe timing decides failovers; `main` runs them in line.
   */
  thread?: 'worker' | 'main';
}

/** Problems listed in the error of a partial sync; the rest are counted. */
const LISTED_PROBLEMS = 5;
/** How long `serve` waits for an abandoned pull to clean up. */
const ABANDON_WAIT_MS = 2000;

export class TlsReplicator implements Replicator {
  private server: SyncServer | null = null;
  /** The pull in progress, if any. */
  private running: { abort: AbortController; done: Promise<unknown> } | null = null;
  private readonly cache = new HashCache();
  private readonly log: SyncLog;
  private readonly thread: PullThread | null;
  private readonly copyState: CopyStateFile | null;
  private readonly asideDir: string | null;

  constructor(private readonly options: TlsReplicatorOptions) {
    this.log = options.log ?? silentLog;
    this.copyState = options.stateDir === undefined ? null : new CopyStateFile(options.stateDir);
    this.asideDir = options.stateDir === undefined ? null : join(options.stateDir, 'sync-aside');
    const inWorker = (options.thread ?? 'worker') === 'worker' && options.hooks === undefined;
    this.thread = inWorker
      ? new PullThread({
          roots: options.paths,
          key: options.key,
          port: options.port,
          timeoutMs: options.timeoutMs,
          limits: options.limits,
          log: this.log,
          asideDir: this.asideDir,
        })
      : null;
  }

  /** From the `sync` config section; reads and checks the key file now (throws SyncError `key`). */
  static fromConfig(sync: Config['sync'], log?: SyncLog, stateDir?: string): TlsReplicator {
    if (sync.keyFile === null) throw new SyncError('key', 'sync.key_file is required when sync.paths is set');
    return new TlsReplicator({
      paths: sync.paths,
      port: sync.port,
      timeoutMs: sync.timeoutMs,
      limits: { maxFileBytes: sync.maxFileBytes, maxTotalBytes: sync.maxTotalBytes },
      key: SyncKey.fromFile(sync.keyFile),
      ...(log === undefined ? {} : { log }),
      ...(stateDir === undefined ? {} : { stateDir }),
    });
  }

  /** Port the server listens on (the configured one, or the one picked for port 0). */
  get servingPort(): number | null {
    return this.server?.listening === true ? this.server.port : null;
  }

  async serve(primaryIp: string): Promise<void> {
    // Rule: a server that becomes primary serves what it has; a pull still running (from the
    // primary that just failed) is abandoned, its half-copied file dropped, before serving.
    await this.abandon('this server became primary');
    await this.stopServing();
    const copy = await this.readCopyState();
    const server = new SyncServer({
      roots: this.options.paths,
      key: this.options.key,
      port: this.options.port,
      timeoutMs: this.options.timeoutMs,
      cache: this.cache,
      log: this.log,
      ...(copy === undefined ? {} : { copy }),
    });
    this.server = server;
    try {
      await server.listen(primaryIp);
    } catch (error) {
      if (this.server === server) this.server = null;
      throw error;
    }
  }

  async stopServing(): Promise<void> {
    const server = this.server;
    this.server = null;
    await server?.close();
  }

  async sync(primaryIp: string, options: { preempt?: boolean } = {}): Promise<SyncResult> {
    // Rule: one pull at a time; the next request comes every_probes later anyway. A final
    // sync cannot wait for that: the pull in its way (from an address that is gone) is
    // abandoned, its half-copied file dropped.
    if (this.running !== null && options.preempt === true) await this.abandon('a final sync preempts it');
    if (this.running !== null) return { skipped: true, files: 0, bytes: 0, deleted: 0 };
    const abort = new AbortController();
    const done = this.pullOnce(primaryIp, abort.signal);
    const running = { abort, done };
    this.running = running;
    try {
      return await done;
    } finally {
      if (this.running === running) this.running = null;
    }
  }

  /** Aborts the pull in progress, if any, and waits (at most ABANDON_WAIT_MS) for it to clean up. */
  private async abandon(why: string): Promise<void> {
    const pulling = this.running;
    if (pulling === null) return;
    pulling.abort.abort(why);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      pulling.done.catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, ABANDON_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (this.running === pulling) this.running = null;
  }

  /** Stops serving and ends the pull thread (tests; the agent just exits). */
  async close(): Promise<void> {
    this.running?.abort.abort('closing');
    await this.stopServing();
    await this.thread?.close();
  }

  /** This server's recorded copy state; unreadable is unknown (logged), never fatal to serving. */
  private async readCopyState(): Promise<CopyState | undefined> {
    try {
      return (await this.copyState?.read()) ?? undefined;
    } catch (error) {
      this.log('warn', 'sync-state-unreadable', `cannot read ${this.copyState?.path ?? ''}: ${describe(error)}`);
      return undefined;
    }
  }

  /** Records a pull's start or completion; a state_dir that cannot be written is logged, not fatal. */
  private async recordCopyState(step: 'attempting' | 'completed'): Promise<void> {
    try {
      await this.copyState?.[step]();
    } catch (error) {
      this.log(
        'warn',
        'sync-state-unwritable',
        `cannot record the copy state in ${this.copyState?.path ?? ''}: ${describe(error)}`,
      );
    }
  }

  private async pullOnce(primaryIp: string, signal: AbortSignal): Promise<SyncResult> {
    // From the first attempt until one completes, this server's copy is incomplete.
    await this.recordCopyState('attempting');
    const result =
      this.thread !== null
        ? await this.thread.run(primaryIp, signal)
        : await pull({
            signal,
            roots: this.options.paths,
            key: this.options.key,
            host: primaryIp,
            port: this.options.port,
            timeoutMs: this.options.timeoutMs,
            limits: this.options.limits,
            cache: this.cache,
            log: this.log,
            ...(this.asideDir === null ? {} : { asideDir: this.asideDir }),
            ...(this.options.hooks === undefined ? {} : { hooks: this.options.hooks }),
          });
    const t = result.timings;
    this.log(
      'debug',
      'sync-pulled',
      `pulled ${result.files} file(s), ${result.bytes} bytes, ${result.deleted} deletion(s), ${result.touched} metadata change(s): manifest ${t.manifestMs} ms, local walk ${t.localMs} ms, copies ${t.copyMs} ms, deletions and fsync ${t.finishMs} ms`,
      { ...t, files: result.files, bytes: result.bytes },
    );
    if (result.tempsRemoved > 0)
      this.log(
        'info',
        'sync-temps-removed',
        `removed ${result.tempsRemoved} temporary file(s) left by an interrupted copy`,
        { count: result.tempsRemoved },
      );
    const first = result.problems[0];
    if (first !== undefined) {
      // A partial sync is not a completed one: the status keeps the last complete sync.
      const listed = result.problems
        .slice(0, LISTED_PROBLEMS)
        .map((p) => p.text)
        .join('; ');
      const more =
        result.problems.length > LISTED_PROBLEMS ? `; and ${result.problems.length - LISTED_PROBLEMS} more` : '';
      throw new SyncError(
        first.kind,
        `partial sync (${result.files} file(s), ${result.bytes} bytes, ${result.deleted} deletion(s) done): ${listed}${more}`,
        { files: result.files, bytes: result.bytes },
      );
    }
    await this.recordCopyState('completed');
    return { skipped: false, files: result.files, bytes: result.bytes, deleted: result.deleted };
  }
}
