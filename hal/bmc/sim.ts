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
 * response time. `cycle` is off now and on after `cycleDelayUs`, like ipmi_sim.
 */
export class SimBmcController {
  down = false;
  garbage = false;
  latencyUs = 50_000;
  timeoutUs = 2_000_000;
  cycleDelayUs = 1_000_000;
  /** Test control: every command it carried out, with the virtual time. */
  readonly commands: Array<{ atUs: number; command: string }> = [];

  constructor(
    readonly member: string,
    private readonly clock: Clock,
    readonly chassis: SimChassis,
  ) {}

  /** Carries out `command` after the BMC's response time; `deliver` hands the result back. */
  request<T>(
    command: 'status' | 'on' | 'off' | 'cycle',
    deliver: (fn: () => void) => void,
    result: () => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const down = this.down;
      this.clock.at(this.clock.nowUs() + (down ? this.timeoutUs : this.latencyUs), () => {
        if (down || this.down) {
          deliver(() => reject(new BmcError(this.member, command, 'timeout', 'no answer from the BMC')));
          return;
        }
        if (this.garbage) {
          deliver(() => reject(new BmcError(this.member, command, 'garbage', 'unparseable answer from the BMC')));
          return;
        }
        this.commands.push({ atUs: this.clock.nowUs(), command });
        if (command === 'off') this.chassis.setPower(false);
        if (command === 'on') this.chassis.setPower(true);
        if (command === 'cycle') {
          this.chassis.setPower(false);
          this.clock.at(this.clock.nowUs() + this.cycleDelayUs, () => this.chassis.setPower(true));
        }
        const value = result();
        deliver(() => resolve(value));
      });
    });
  }
}

class SimBmc implements Bmc {
  constructor(
    private readonly controller: SimBmcController,
    private readonly deliver: (fn: () => void) => void,
  ) {}

  get member(): string {
    return this.controller.member;
  }

  status(): Promise<PowerState> {
    return this.controller.request('status', this.deliver, () => this.controller.chassis.power());
  }

  on(): Promise<void> {
    return this.controller.request('on', this.deliver, () => undefined);
  }

  off(): Promise<void> {
    return this.controller.request('off', this.deliver, () => undefined);
  }

  cycle(): Promise<void> {
    return this.controller.request('cycle', this.deliver, () => undefined);
  }
}

/** The BMCs one simulated server can reach; results come back through its own life. */
export class SimBmcFactory implements BmcFactory {
  constructor(
    private readonly controllers: ReadonlyMap<string, SimBmcController>,
    private readonly deliver: (fn: () => void) => void,
  ) {}

  open(member: string): Bmc {
    const controller = this.controllers.get(member);
    if (controller === undefined)
      throw new BmcError(member, 'open', 'unreachable', 'no BMC configured for this member');
    return new SimBmc(controller, this.deliver);
  }
}
