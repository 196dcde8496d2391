import { BmcError } from '../errors/index.js';
import type { Clock } from '../clock/index.js';
import type { Bmc, BmcFactory, PowerState } from './index.js';

/** What a simulated BMC controls: the simulated server's power. */
export interface SimChassis {
  power(): PowerState;
  setPower(on: boolean): void;
}

/**
 * One simulated BMC with test controls: take it down, make it answer garbage, set its
 * response time (`latencyUs`, the acknowledgement of every command) and how long after an
 * acknowledged off the power really goes off (`offDelayUs`, 0: at once), like a real BMC
 * holding the power button. `cycle` is off (after `offDelayUs`) and on `cycleDelayUs` after
 * the power went off, like ipmi_sim. An `on` that arrives while an off is pending does not
 * cancel it: the off is carried out, and the on `cycleDelayUs` later (a BMC cannot let go
 * of a power button it is holding; a fence it acknowledged is never undone); with
 * `onDuringOff: 'drop'` such an on is acknowledged and forgotten, as some real BMCs do.
 */
export class SimBmcController {
  down = false;
  garbage = false;
  latencyUs = 50_000;
  timeoutUs = 2_000_000;
  cycleDelayUs = 1_000_000;
  offDelayUs = 0;
  /** What an `on` acknowledged while an off is pending does: carried out after it, or nothing. */
  onDuringOff: 'queue' | 'drop' = 'queue';
  /** Test control: every command it carried out (acknowledged), with the virtual time. */
  readonly commands: Array<{ atUs: number; command: string }> = [];
  /** Test control: every power change the BMC made to the chassis, with the virtual time. */
  readonly powerChanges: Array<{ atUs: number; on: boolean }> = [];
  /** An acknowledged off not yet carried out; `thenOn`: power on again afterwards. */
  private pendingOff: { thenOn: boolean } | null = null;

  constructor(
    readonly member: string,
    private readonly clock: Clock,
    readonly chassis: SimChassis,
  ) {}

  /** Test control: an acknowledged off is still waiting for its `offDelayUs`. */
  get offPending(): boolean {
    return this.pendingOff !== null;
  }

  /**
   * Carries out `command` after the BMC's response time; `deliver` hands the result back.
   * `reachable`: the asking server's management LAN works (a partition times out like a BMC
   * that is down).
   */
  request<T>(
    command: 'status' | 'on' | 'off' | 'cycle',
    deliver: (fn: () => void) => void,
    result: () => T,
    reachable: () => boolean = () => true,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const down = this.down || !reachable();
      this.clock.at(this.clock.nowUs() + (down ? this.timeoutUs : this.latencyUs), () => {
        if (down || this.down || !reachable()) {
          deliver(() => reject(new BmcError(this.member, command, 'timeout', 'no answer from the BMC')));
          return;
        }
        if (this.garbage) {
          deliver(() => reject(new BmcError(this.member, command, 'garbage', 'unparseable answer from the BMC')));
          return;
        }
        this.commands.push({ atUs: this.clock.nowUs(), command });
        if (command === 'off') this.powerOff(false);
        if (command === 'on') this.powerOn();
        if (command === 'cycle') this.powerOff(true);
        const value = result();
        deliver(() => resolve(value));
      });
    });
  }

  /** Off now, or `offDelayUs` from now; a second off while one is pending changes nothing. */
  private powerOff(thenOn: boolean): void {
    if (this.pendingOff !== null) {
      this.pendingOff.thenOn ||= thenOn;
      return;
    }
    if (this.offDelayUs <= 0) {
      this.cutPower(thenOn);
      return;
    }
    const pending = { thenOn };
    this.pendingOff = pending;
    this.clock.at(this.clock.nowUs() + this.offDelayUs, () => {
      this.pendingOff = null;
      this.cutPower(pending.thenOn);
    });
  }

  private powerOn(): void {
    if (this.pendingOff === null) this.setPower(true);
    else if (this.onDuringOff === 'queue') this.pendingOff.thenOn = true;
  }

  private cutPower(thenOn: boolean): void {
    this.setPower(false);
    if (thenOn) this.clock.at(this.clock.nowUs() + this.cycleDelayUs, () => this.setPower(true));
  }

  private setPower(on: boolean): void {
    this.powerChanges.push({ atUs: this.clock.nowUs(), on });
    this.chassis.setPower(on);
  }
}

class SimBmc implements Bmc {
  constructor(
    private readonly controller: SimBmcController,
    private readonly deliver: (fn: () => void) => void,
    private readonly reachable: () => boolean,
  ) {}

  get member(): string {
    return this.controller.member;
  }

  status(): Promise<PowerState> {
    return this.controller.request('status', this.deliver, () => this.controller.chassis.power(), this.reachable);
  }

  on(): Promise<void> {
    return this.controller.request('on', this.deliver, () => undefined, this.reachable);
  }

  off(): Promise<void> {
    return this.controller.request('off', this.deliver, () => undefined, this.reachable);
  }

  cycle(): Promise<void> {
    return this.controller.request('cycle', this.deliver, () => undefined, this.reachable);
  }
}

/** The BMCs one simulated server can reach; results come back through its own life. */
export class SimBmcFactory implements BmcFactory {
  constructor(
    private readonly controllers: ReadonlyMap<string, SimBmcController>,
    private readonly deliver: (fn: () => void) => void,
    private readonly reachable: () => boolean = () => true,
  ) {}

  open(member: string): Bmc {
    const controller = this.controllers.get(member);
    if (controller === undefined)
      throw new BmcError(member, 'open', 'unreachable', 'no BMC configured for this member');
    return new SimBmc(controller, this.deliver, this.reachable);
  }
}
