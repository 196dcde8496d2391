import { IsolationError } from '../errors/index.js';
import type { Clock } from '../clock/index.js';
import type { IsolationState, Isolator, IsolatorFactory } from './index.js';

/** What a simulated switch port controls: the admin state of the member's port on the simulated LAN. */
export interface SimPort {
  readonly portEnabled: boolean;
  setPortEnabled(up: boolean): void;
}

/**
 * One simulated switch port with test controls: take the switch down (every request times
 * out), set its response time. `isolate` shuts the port (the member sees its link go down,
 * as with a real switch); reading back is immediate once the command is carried out.
 */
export class SimIsolationController {
  down = false;
  latencyUs = 2_000;
  timeoutUs = 1_000_000;
  /** Test control: every command carried out, with the virtual time. */
  readonly commands: Array<{ atUs: number; command: 'isolate' | 'restore' | 'status' }> = [];

  constructor(
    readonly member: string,
    private readonly clock: Clock,
    readonly port: SimPort,
  ) {}

  /** Carries out `command` after the switch's response time; `deliver` hands the result back. */
  request<T>(
    command: 'isolate' | 'restore' | 'status',
    deliver: (fn: () => void) => void,
    result: () => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const down = this.down;
      this.clock.at(this.clock.nowUs() + (down ? this.timeoutUs : this.latencyUs), () => {
        if (down || this.down) {
          deliver(() => reject(new IsolationError(this.member, command, 'timeout', 'no answer from the switch')));
          return;
        }
        this.commands.push({ atUs: this.clock.nowUs(), command });
        const value = result();
        deliver(() => resolve(value));
      });
    });
  }
}

class SimIsolator implements Isolator {
  readonly device: string;

  constructor(
    private readonly controller: SimIsolationController,
    private readonly deliver: (fn: () => void) => void,
  ) {
    this.device = `simulated switch port of ${controller.member}`;
  }

  get member(): string {
    return this.controller.member;
  }

  isolate(): Promise<void> {
    return this.controller.request('isolate', this.deliver, () => this.controller.port.setPortEnabled(false));
  }

  restore(): Promise<void> {
    return this.controller.request('restore', this.deliver, () => this.controller.port.setPortEnabled(true));
  }

  status(): Promise<IsolationState> {
    return this.controller.request('status', this.deliver, () =>
      this.controller.port.portEnabled ? 'connected' : 'isolated',
    );
  }
}

/** Simulated switch ports for the members that have one. */
export class SimIsolatorFactory implements IsolatorFactory {
  /** `deliver` runs results in the asking agent's life (dropped if it died meanwhile). */
  constructor(
    private readonly controllers: ReadonlyMap<string, SimIsolationController>,
    private readonly deliver: (fn: () => void) => void = (fn) => fn(),
  ) {}

  has(member: string): boolean {
    return this.controllers.has(member);
  }

  open(member: string): Isolator {
    const controller = this.controllers.get(member);
    if (!controller) throw new Error(`no simulated switch port for member '${member}'`);
    return new SimIsolator(controller, this.deliver);
  }
}
