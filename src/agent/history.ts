import type { Action } from '../role/index.js';
import type { ExecutorContext } from './context.js';
import type { Transition } from './status.js';

/** How many transitions the agent keeps (status shows the last ten). */
const HISTORY = 50;

/**
 * The record of phase changes: each transition the role machine makes is logged as a
 * structured event, kept here and written to the console; a routine one (a spare's periodic
 * check) is logged at debug level only.
 */
export class TransitionHistory {
  private readonly kept: Transition[] = [];

  constructor(private readonly x: ExecutorContext) {}

  record(action: Extract<Action, { type: 'transition' }>): void {
    const x = this.x;
    const fields = { from: action.from, to: action.to, epoch: action.epoch };
    const line = `${action.from} -> ${action.to}: ${action.reason}`;
    if (action.routine === true) return x.log('debug', 'transition', line, fields);
    this.kept.push({
      atMs: x.ports.clock.wallMs(),
      atUs: x.now(),
      from: action.from,
      to: action.to,
      role: x.state().role,
      epoch: action.epoch,
      reason: action.reason,
    });
    if (this.kept.length > HISTORY) this.kept.shift();
    x.log('info', 'transition', line, fields);
    x.ports.console?.(
      `hotspare: ${x.ports.config.node}: ${action.from} -> ${action.to} (epoch ${action.epoch}): ${action.reason}`,
    );
  }

  all(): readonly Transition[] {
    return this.kept;
  }
}
