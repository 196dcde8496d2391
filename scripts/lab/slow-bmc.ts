import { monoUs, sleep } from './exec.js';

/** What the lab BMC switches: the harness's power functions for one server. */
export interface LabChassis {
  powered(name: string): boolean;
  /** Cuts the power; `commandUs` is when the BMC acknowledged the off (for the power log). */
  powerOff(name: string, commandUs: number): Promise<unknown>;
  powerOn(name: string): Promise<unknown>;
  log(line: string): void;
}

export interface SlowBmcOptions {
  /** From an acknowledged power off to the power really going off (0: at once). */
  offDelayMs: number;
  /** Added to the response time of every power command (`set` through the chassis program). */
  ackDelayMs: number;
  /** Least time the power stays off after a delayed off before an on is carried out (a BMC's power cycle interval). */
  cycleIntervalMs: number;
  /**
   * An `on` acknowledged while an off is pending: carried out after the off (`queue`, the
   * default), or forgotten (`drop`), as some real BMCs do.
   */
  onDuringOff?: 'queue' | 'drop';
}

interface PendingOff {
  commandUs: number;
  thenOn: boolean;
  timer: NodeJS.Timeout;
}

/**
 * The power side of a lab BMC that behaves like real hardware: power off is acknowledged at
 * once and carried out `offDelayMs` later (an x86 BMC holds the power button for seconds);
 * meanwhile the power state reads on. An `on` that arrives while an off is pending does not
 * cancel it: the BMC cannot let go of a button it is holding, and a fence it acknowledged
 * must never be undone by a later command. After a delayed off the power stays off for at
 * least `cycleIntervalMs` (a real BMC's power cycle interval): an on queued behind the off,
 * or arriving sooner, is acknowledged and carried out then. ipmi_sim's `power cycle` sends
 * its on as soon as it reads the power off, so without this hold the off would last a few
 * milliseconds and no status poll could see it.
 */
export class SlowBmcPower {
  private readonly pending = new Map<string, PendingOff>();
  private readonly onTimers = new Set<NodeJS.Timeout>();
  /** Monotonic µs at which each server's last delayed off was carried out. */
  private readonly offDoneUs = new Map<string, number>();
  /** Per-server off delays that replace `options.offDelayMs` (setOffDelayMs). */
  private readonly offDelayOverride = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly chassis: LabChassis,
    readonly options: SlowBmcOptions,
  ) {}

  /** The BMC's response time for a power command, beyond the chassis program's own. */
  async acknowledge(): Promise<void> {
    if (this.options.ackDelayMs > 0) await sleep(this.options.ackDelayMs);
  }

  /**
   * One server's BMC turns slow (or fast again, `null`) from now on: its off delay is
   * `offDelayMs` instead of the lab's. For fault campaigns (scripts/soak).
   */
  setOffDelayMs(name: string, offDelayMs: number | null): void {
    if (offDelayMs === null) this.offDelayOverride.delete(name);
    else this.offDelayOverride.set(name, offDelayMs);
  }

  private offDelayFor(name: string): number {
    return this.offDelayOverride.get(name) ?? this.options.offDelayMs;
  }

  async off(name: string): Promise<void> {
    const commandUs = monoUs();
    const offDelayMs = this.offDelayFor(name);
    if (offDelayMs <= 0) {
      await this.chassis.powerOff(name, commandUs);
      return;
    }
    if (!this.chassis.powered(name) || this.pending.has(name)) return;
    const entry: PendingOff = {
      commandUs,
      thenOn: false,
      timer: setTimeout(() => void this.carryOut(name, entry), offDelayMs),
    };
    this.pending.set(name, entry);
    this.chassis.log(`power off ${name} (bmc): acknowledged, the power goes off in ${offDelayMs} ms`);
  }

  async on(name: string): Promise<void> {
    const entry = this.pending.get(name);
    if (entry !== undefined) {
      if (this.options.onDuringOff === 'drop') {
        this.chassis.log(`power on ${name} (bmc): acknowledged and dropped, an off is pending`);
        return;
      }
      entry.thenOn = true;
      this.chassis.log(`power on ${name} (bmc): queued behind the pending off`);
      return;
    }
    const holdMs = this.holdRemainingMs(name);
    if (holdMs > 0) {
      this.deferOn(name, holdMs);
      return;
    }
    await this.chassis.powerOn(name);
  }

  offPending(name: string): boolean {
    return this.pending.has(name);
  }

  /** The server's power was switched by other means (a crash): a pending off has nothing left to do. */
  cancel(name: string): void {
    const entry = this.pending.get(name);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.pending.delete(name);
    this.chassis.log(`power off ${name} (bmc): pending off dropped, the power was cut by other means`);
  }

  stop(): void {
    this.stopped = true;
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    for (const timer of this.onTimers) clearTimeout(timer);
    this.onTimers.clear();
  }

  private async carryOut(name: string, entry: PendingOff): Promise<void> {
    if (this.stopped || this.pending.get(name) !== entry) return;
    this.pending.delete(name);
    await this.chassis.powerOff(name, entry.commandUs).catch((error: unknown) => this.failed(name, 'off', error));
    this.offDoneUs.set(name, monoUs());
    if (entry.thenOn) this.deferOn(name, this.options.cycleIntervalMs);
  }

  /** What is left of the power cycle interval after the server's last delayed off. */
  private holdRemainingMs(name: string): number {
    const doneUs = this.offDoneUs.get(name);
    if (doneUs === undefined) return 0;
    return this.options.cycleIntervalMs - (monoUs() - doneUs) / 1000;
  }

  private deferOn(name: string, delayMs: number): void {
    this.chassis.log(`power on ${name} (bmc): carried out in ${Math.ceil(delayMs)} ms (power cycle interval)`);
    const timer = setTimeout(() => {
      this.onTimers.delete(timer);
      if (!this.stopped) void this.chassis.powerOn(name).catch((error: unknown) => this.failed(name, 'on', error));
    }, delayMs);
    this.onTimers.add(timer);
  }

  private failed(name: string, what: string, error: unknown): void {
    this.chassis.log(`power ${what} ${name} (bmc, delayed): ${error instanceof Error ? error.message : String(error)}`);
  }
}
