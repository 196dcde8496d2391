import type { ExecutorContext } from './context.js';
import { message } from './context.js';
import type { SyncResult } from './ports.js';
import type { SyncStatus } from './status.js';

/**
 * Replication of the primary's key files (patent [0010]): a monitor syncs when the role
 * machine asks (every `sync.every_probes` answered probes) or the operator does; a primary
 * serves its files while, and only while, it is primary.
 */
export class Replication {
  private readonly progress = {
    completed: 0,
    failed: 0,
    lastOkAtMs: null as number | null,
    lastFiles: 0,
    lastBytes: 0,
    totalBytes: 0,
    lastError: null as string | null,
    serving: false,
  };

  constructor(private readonly x: ExecutorContext) {}

  sync(): Promise<SyncResult | null> {
    const x = this.x;
    x.counters.syncs += 1;
    const replicator = x.ports.replicator;
    if (replicator === null) {
      x.log('debug', 'sync-due', 'sync due; no replicator configured');
      return Promise.resolve(null);
    }
    const startUs = x.now();
    return replicator.sync(x.primaryIp).then(
      (moved) => {
        if (moved.skipped) return moved;
        const p = this.progress;
        Object.assign(p, {
          completed: p.completed + 1,
          lastOkAtMs: x.ports.clock.wallMs(),
          lastFiles: moved.files,
          lastBytes: moved.bytes,
          totalBytes: p.totalBytes + moved.bytes,
          lastError: null,
        });
        if (moved.files > 0 || moved.deleted > 0) {
          x.log(
            'info',
            'synced',
            `synced ${moved.files} file(s), ${moved.bytes} bytes, ${moved.deleted} deletion(s) from the primary`,
            { files: moved.files, bytes: moved.bytes, deleted: moved.deleted, tookUs: x.now() - startUs },
          );
        }
        return moved;
      },
      (error: unknown) => {
        x.counters.syncErrors += 1;
        Object.assign(this.progress, { failed: this.progress.failed + 1, lastError: message(error) });
        x.log('error', 'sync-failed', `sync failed: ${message(error)}`);
        return null;
      },
    );
  }

  /** Operator `sync now` (the shell): the monitor's sync at once, outside the probe cadence. */
  syncNow(): Promise<SyncResult | null> {
    if (this.x.ports.replicator === null)
      return Promise.reject(new Error('no replicator is configured on this server'));
    const phase = this.x.state().phase;
    if (phase !== 'monitor')
      return Promise.reject(new Error(`only the monitor syncs from the primary; this server is ${phase}`));
    this.x.log('info', 'operator-sync', 'sync now, asked by the operator');
    return this.sync();
  }

  /** Serves while primary: started on the way in, stopped on the way out. */
  onTransition(from: string, to: string): void {
    if (to === 'primary' && from !== 'primary') this.startServing();
    if (from === 'primary' && to !== 'primary') this.stopServing();
  }

  startServing(): void {
    const replicator = this.x.ports.replicator;
    if (replicator === null) return;
    this.progress.serving = true;
    replicator.serve(this.x.primaryIp).then(
      () => this.x.log('info', 'sync-serving', `serving key files on ${this.x.primaryIp}`),
      (error: unknown) => {
        this.progress.serving = false;
        this.x.log('error', 'sync-serve-failed', `cannot serve key files: ${message(error)}`);
      },
    );
  }

  stopServing(): void {
    const replicator = this.x.ports.replicator;
    if (replicator === null || !this.progress.serving) return;
    this.progress.serving = false;
    replicator
      .stopServing()
      .catch((error: unknown) => this.x.log('error', 'sync-stop-failed', `cannot stop serving: ${message(error)}`));
  }

  status(): SyncStatus {
    const p = this.progress;
    return {
      ...p,
      requested: this.x.counters.syncs,
      lagMs: p.lastOkAtMs === null ? null : this.x.ports.clock.wallMs() - p.lastOkAtMs,
    };
  }
}
