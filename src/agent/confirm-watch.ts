import type { ConflictReport, ConflictWatch } from '../../hal/nic/index.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';

/** The watch's probes come this many times per confirmation window (the check's own density). */
const PROBES_PER_WINDOW = 2;

/**
 * [0013] through the fence (README "Takeover"): when a monitor's takeover fences go out, the
 * primary address is watched (ARP probes every half confirmation window, each answer, probe
 * or gratuitous ARP noted as it arrives). When the fence is done and the role machine asks
 * for the confirmation check, the watch stands in for most of it if it has run for at least
 * the window and heard nothing in the last window: the caller then ends it with a short
 * check (Addresses.finalCheck). Anything heard in that last window (the old holder just
 * before its cut, someone else), a watch too young, or a driver that cannot watch: the full
 * check runs as before.
 */
export class ConfirmWatch {
  private watch: ConflictWatch | null = null;
  private startedUs = 0;
  private lastSeenUs = -Infinity;
  private lastSeen = '';
  private broken = false;

  constructor(private readonly x: ExecutorContext) {}

  /** Starts watching the primary address, unless a watch runs already. */
  start(address: string, windowUs: number, limitUs: number): void {
    if (this.watch !== null) return;
    const nic = this.x.ports.nic;
    const intervalMs = Math.max(1, Math.floor(windowUs / 1000 / PROBES_PER_WINDOW));
    let watch: ConflictWatch | null = null;
    try {
      watch =
        nic.watchConflict?.(address, intervalMs, Math.ceil(limitUs / 1000), (seen) => {
          this.lastSeenUs = this.x.now();
          this.lastSeen = seen;
        }) ?? null;
    } catch (error) {
      this.x.log('warn', 'confirm-watch-failed', `cannot watch ${address} through the fence: ${message(error)}`);
    }
    if (watch === null) return;
    this.watch = watch;
    this.startedUs = this.x.now();
    this.lastSeenUs = -Infinity;
    this.broken = false;
    watch.ended.then(
      () => {
        if (this.watch === watch) this.watch = null;
      },
      (error: unknown) => {
        if (this.watch !== watch) return;
        this.broken = true;
        this.x.log('warn', 'confirm-watch-failed', `the watch of ${address} broke: ${message(error)}`);
      },
    );
  }

  /**
   * The confirmation from the watch, or null when the check must run: no watch, a broken
   * one, one younger than the window, or one that heard something within the window. Ends
   * the watch either way.
   */
  take(windowUs: number): ConflictReport | null {
    const watch = this.watch;
    if (watch === null) return null;
    const nowUs = this.x.now();
    const silentFor = nowUs - Math.max(this.startedUs, this.lastSeenUs);
    const usable = !this.broken && nowUs - this.startedUs >= windowUs && this.lastSeenUs < nowUs - windowUs;
    this.stop();
    if (!usable) {
      this.x.log(
        'debug',
        'confirm-watch-unused',
        this.lastSeenUs >= nowUs - windowUs
          ? `the watch heard ${this.lastSeen} ${((nowUs - this.lastSeenUs) / 1000).toFixed(1)} ms ago: checking again`
          : `the watch ran ${((nowUs - this.startedUs) / 1000).toFixed(1)} ms only: checking`,
      );
      return null;
    }
    return { taken: false, evidence: [`silent for ${(silentFor / 1000).toFixed(1)} ms, watched through the fence`] };
  }

  stop(): void {
    const watch = this.watch;
    this.watch = null;
    watch?.end();
  }
}
