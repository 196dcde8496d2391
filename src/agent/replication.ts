import type { Cancel } from '../../hal/clock/index.js';
import { peerMembers } from '../peer/index.js';
import { handoverWindowUs } from '../role/index.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';
import type { SyncResult } from './ports.js';
import type { SyncStatus } from './status.js';

/** A handover's final sync, ended: pulled (`ok`) or not, and what happened. */
export interface FinalSyncEnd {
  ok: boolean;
  detail: string;
}

/** A failed final sync is tried again this much later, while sync.final_ms lasts. */
const FINAL_SYNC_RETRY_MS = 50;

/**
 * Replication of the primary's key files (patent [0010]): a monitor syncs when the role
 * machine asks (every `sync.every_probes` answered probes) or the operator does; a primary
 * serves its files while it is primary, on the primary address. A primary that hands over
 * (it becomes a spare) serves them a little longer on its own LAN peer address, where the
 * monitor's final sync pulls them after the primary address is gone.
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

  /** Ends the handover's serving on the LAN peer address; null: not serving there. */
  private handoverStop: Cancel | null = null;

  constructor(private readonly x: ExecutorContext) {}

  sync(): Promise<SyncResult | null> {
    return this.pull(this.x.primaryIp, false, 'error');
  }

  /**
   * A handover's final sync: a pull from the releaser's LAN peer address (its management
   * address if it has no LAN one), abandoning a periodic pull in the way. A pull that fails
   * (the releaser not listening there yet, say) is tried again every FINAL_SYNC_RETRY_MS
   * while sync.final_ms lasts; the role machine stops waiting at that limit anyway. The first
   * failure is logged as a warning and the retries at debug (up to final_ms/50 of them): the
   * role machine logs the final sync's outcome, as an error if it failed. Never rejects.
   */
  async finalSync(from: string): Promise<FinalSyncEnd> {
    const member = peerMembers(this.x.ports.config).find((m) => m.name === from);
    const address = member?.lan ?? member?.mgmt ?? null;
    if (address === null) return { ok: false, detail: `${from} has no peer address to pull from` };
    if (this.x.ports.replicator === null) return { ok: false, detail: 'no replicator is configured' };
    const startUs = this.x.now();
    const lastTryUs = startUs + this.x.mc.finalSyncUs - FINAL_SYNC_RETRY_MS * 1000;
    for (let attempt = 1; ; attempt++) {
      const moved = await this.pull(address, true, attempt === 1 ? 'warn' : 'debug');
      const tookMs = ((this.x.now() - startUs) / 1000).toFixed(1);
      const tries = attempt === 1 ? '' : ` (attempt ${attempt})`;
      if (moved !== null && !moved.skipped)
        return {
          ok: true,
          detail: `${moved.files} file(s), ${moved.bytes} bytes, ${moved.deleted} deletion(s) from ${address} in ${tookMs} ms${tries}`,
        };
      const why = moved === null ? (this.progress.lastError ?? 'failed') : 'another pull was still running';
      if (this.x.stopped() || this.x.now() >= lastTryUs)
        return { ok: false, detail: `${why}, after ${tookMs} ms and ${attempt} attempt(s)` };
      await new Promise<void>((done) => this.x.ports.clock.at(this.x.now() + FINAL_SYNC_RETRY_MS * 1000, done));
    }
  }

  /** One pull; a failure is logged as `sync-failed` at `failureLevel`. */
  private pull(
    address: string,
    preempt: boolean,
    failureLevel: 'error' | 'warn' | 'debug',
  ): Promise<SyncResult | null> {
    const x = this.x;
    x.counters.syncs += 1;
    const replicator = x.ports.replicator;
    if (replicator === null) {
      x.log('debug', 'sync-due', 'sync due; no replicator configured');
      return Promise.resolve(null);
    }
    const startUs = x.now();
    return replicator.sync(address, { preempt }).then(
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
        x.log(failureLevel, 'sync-failed', `sync failed: ${message(error)}`);
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

  /**
   * Serves while primary: started on the way in, stopped on the way out, except that a
   * primary becoming a spare (a handover: demote, failed health check, clean stop) serves on
   * its LAN peer address for the monitor's final sync, for the monitor's detection and
   * confirm windows plus sync.final_ms and a margin.
   */
  onTransition(from: string, to: string): void {
    if (to === 'primary' && from !== 'primary') this.startServing(this.x.primaryIp);
    else if (from === 'primary' && to === 'spare' && this.x.mc.finalSyncUs > 0) this.serveForHandover();
    else if (from === 'primary' && to !== 'primary') this.stopServing();
  }

  private serveForHandover(): void {
    const self = peerMembers(this.x.ports.config).find((m) => m.name === this.x.ports.config.node);
    const address = self?.lan ?? self?.mgmt ?? null;
    if (address === null) return this.stopServing();
    const windowUs = handoverWindowUs(this.x.mc);
    this.startServing(address, 'for the monitor’s final sync');
    this.handoverStop = this.x.ports.clock.at(this.x.now() + windowUs, () => {
      this.handoverStop = null;
      this.stopServing();
    });
  }

  startServing(address: string, why = ''): void {
    const replicator = this.x.ports.replicator;
    if (replicator === null) return;
    this.cancelHandoverStop();
    this.progress.serving = true;
    replicator.serve(address).then(
      () => this.x.log('info', 'sync-serving', `serving key files on ${address}${why === '' ? '' : ` ${why}`}`),
      (error: unknown) => {
        this.progress.serving = false;
        this.x.log('error', 'sync-serve-failed', `cannot serve key files on ${address}: ${message(error)}`);
      },
    );
  }

  private cancelHandoverStop(): void {
    this.handoverStop?.();
    this.handoverStop = null;
  }

  stopServing(): void {
    this.cancelHandoverStop();
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
