import { sleepUs } from '../../hal/clock/index.js';
import type { Clock } from '../../hal/clock/index.js';
import type { IsolatorFactory } from '../../hal/isolation/index.js';
import type { LogFields } from '../log/index.js';
import type { LogLevel } from '../role/index.js';
import type { FenceDone, PowerControl } from './power.js';

export interface FenceOutcome extends FenceDone {
  /** What was confirmed first: the power read back off, or the switch port read back cut. */
  by: 'power' | 'isolation';
}

export interface IsolatingFenceOptions {
  power: Pick<PowerControl, 'fence' | 'powerOn' | 'recordIsolation'>;
  isolators: IsolatorFactory;
  clock: Clock;
  /** `isolated`: a confirmed cut ends the fence; otherwise only the power does. */
  gate: 'confirmed' | 'isolated' | 'lease';
  log: (level: LogLevel, event: string, text: string, fields?: LogFields) => void;
  /** True once the agent stopped: no more power-off retries. */
  stopped?: () => boolean;
}

/**
 * The fence of the `isolated` gate (README "Takeover gates"): the member's power-off and
 * the cut of its switch port start together, and the fence ends as soon as either is read
 * back, so a BMC that takes seconds to cut the power no longer holds the takeover. The
 * power-off runs on regardless, retried until it is read back; its failures are alarms. The port is
 * reconnected only once the power reads off, so a server that was cut off while still
 * running never rejoins the LAN holding the address; a power-on after the takeover waits
 * for that. With another gate, or for a member without an isolation device, this is the
 * power fence alone.
 */
export class IsolatingFence {
  /** Per member: the power-off still running (or done) of its latest fence. */
  private readonly offs = new Map<string, Promise<boolean>>();
  /** Per member: the number of its latest fence, so that an older one's retries stop. */
  private readonly generations = new Map<string, number>();

  constructor(private readonly o: IsolatingFenceOptions) {}

  fence(target: string): Promise<FenceOutcome> {
    const generation = (this.generations.get(target) ?? 0) + 1;
    this.generations.set(target, generation);
    const power = this.o.power.fence(target);
    if (this.o.gate !== 'isolated' || !this.o.isolators.has(target)) {
      this.offs.delete(target);
      return power.then((done) => ({ ...done, by: 'power' as const }));
    }
    const isolator = this.o.isolators.open(target);
    const startUs = this.o.clock.nowUs();
    const cut = isolator.isolate().then(() => isolator.status());
    // The power-off goes on after the fence has ended: log its end, and reconnect the port
    // once the server is off (not before: it would rejoin holding the address) and the cut's
    // own read-back is over (or it would read the reconnected port and cry failure). A
    // power-off that fails is retried with backoff while the port stays shut: the server is
    // cut off but may still run, and must be off before it rejoins or is powered on.
    const current = (): boolean => this.generations.get(target) === generation;
    const off = this.powerOffUntilDone(target, power, current).then(async (ok) => {
      if (!ok) return false;
      await cut.catch(() => undefined);
      if (current()) await this.restore(target);
      return true;
    });
    this.offs.set(target, off);
    return new Promise<FenceOutcome>((resolve, reject) => {
      let failures = 0;
      const failed = (): void => {
        failures += 1;
        if (failures === 2) reject(new Error(`isolation and power-off of ${target} both failed`));
      };
      cut.then(
        (state) => {
          if (state !== 'isolated') {
            this.o.power.recordIsolation(
              target,
              isolator.device,
              false,
              this.o.clock.nowUs() - startUs,
              `still reads ${state} after the cut`,
            );
            this.o.log('error', 'isolation-failed', `switch port of ${target} still reads ${state} after the cut`, {
              target,
            });
            failed();
            return;
          }
          const tookUs = this.o.clock.nowUs() - startUs;
          this.o.power.recordIsolation(target, isolator.device, true, tookUs, 'cut read back');
          resolve({
            by: 'isolation',
            detail: `cut off at ${isolator.device}, read back in ${(tookUs / 1000).toFixed(1)} ms; power-off continues`,
            offUs: tookUs,
            polls: 0,
            // The isolation is no fencing level: no level fenced yet (the power-off runs on).
            level: 0,
            attempts: [],
          });
        },
        (error: unknown) => {
          this.o.power.recordIsolation(target, isolator.device, false, this.o.clock.nowUs() - startUs, message(error));
          this.o.log(
            'error',
            'isolation-failed',
            `cannot cut ${target} off: ${message(error)}; waiting for its power`,
            {
              target,
            },
          );
          failed();
        },
      );
      power.then((done) => resolve({ ...done, by: 'power' }), failed);
    });
  }

  /**
   * The power-off of an isolated member, retried (1 s doubling to 60 s) until the power reads
   * off; false when a newer fence of the same member took over.
   */
  private async powerOffUntilDone(target: string, first: Promise<FenceDone>, current: () => boolean): Promise<boolean> {
    let attempt: Promise<FenceDone> = first;
    for (let tries = 1; ; tries += 1) {
      try {
        const done = await attempt;
        this.o.log('info', 'fence-power-off', `power of ${target} confirmed off: ${done.detail}`, {
          target,
          offUs: done.offUs,
        });
        return true;
      } catch (error) {
        const waitUs = Math.min(60_000_000, 1_000_000 * 2 ** Math.min(tries - 1, 6));
        this.o.log(
          'error',
          'fence-power-failed',
          `power-off of ${target} failed after its isolation (attempt ${tries}): ${message(error)}; its switch port stays shut, retrying in ${waitUs / 1_000_000} s`,
          { target, attempt: tries },
        );
        await sleepUs(this.o.clock, waitUs);
        // A newer fence of this member runs its own power-off; a stopped agent retries nothing.
        if (!current() || this.o.stopped?.() === true) return false;
        attempt = this.o.power.fence(target);
      }
    }
  }

  /** Powers a fenced member on, once its power-off (and reconnection) is done; never if it failed. */
  powerOn(target: string, waitOffUntilUs?: number): void {
    const off = this.offs.get(target);
    if (off === undefined) {
      this.o.power.powerOn(target, waitOffUntilUs);
      return;
    }
    void off.then((ok) => {
      if (ok) this.o.power.powerOn(target, waitOffUntilUs);
    });
  }

  private async restore(target: string): Promise<void> {
    try {
      await this.o.isolators.open(target).restore();
      this.o.log('info', 'isolation-restored', `switch port of ${target} reconnected: its power is off`, { target });
    } catch (error) {
      this.o.log(
        'error',
        'isolation-restore-failed',
        `cannot reconnect ${target}'s switch port: ${message(error)}; it stays cut off until an operator restores it`,
        { target },
      );
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
