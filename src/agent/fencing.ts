import { NO_ISOLATORS } from '../../hal/isolation/index.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';
import { IsolatingFence } from './isolating-fence.js';
import { PowerControl, quickPolls } from './power.js';
import type { FenceAttempt } from './power.js';
import { readPower } from './power-reading.js';
import type { PowerReading } from './power-reading.js';

/**
 * The executor's fences and power-ons: the takeover fence the role machine waits for, the
 * detached one of the `lease` gate, an operator's fence, and powering a fenced server on again.
 */
export class Fencing {
  /** BMC power commands (and other fencing levels), as the role machine asks. */
  private readonly power: PowerControl;
  /** The takeover fence: the power alone, or with the `isolated` gate the switch port too. */
  private readonly fencer: IsolatingFence;
  /**
   * Counts this server's reboots: a fence still running from before the last one belongs to
   * a takeover the role machine no longer runs, and its outcome must not pass for the
   * outcome of a fence the new life asks for.
   */
  private life = 0;

  constructor(private readonly x: ExecutorContext) {
    const { ports, mc } = x;
    const log = x.log.bind(x);
    this.power = new PowerControl({
      bmcs: ports.bmcs,
      // Fencing levels per member (issue 15): absent, the BMC alone.
      levels: ports.fenceLevels ?? null,
      clock: ports.clock,
      powerCycle: mc.fencing.powerCycle,
      pollMs: ports.config.fencing.powerPollMs,
      timeoutMs: ports.config.fencing.powerTimeoutMs,
      resendMs: ports.config.fencing.powerResendMs,
      quick: quickPolls(
        ports.config.board.bmc.powerOffMs,
        ports.config.fencing.powerPollQuickMs,
        ports.config.fencing.powerPollMs,
      ),
      log,
      stopped: () => x.stopped(),
      // The role record lists fenced members until their power-on is confirmed.
      onPoweredOn: (target) => {
        if (!x.stopped()) x.dispatch({ type: 'powered-on', nowUs: x.now(), target });
      },
    });
    this.fencer = new IsolatingFence({
      power: this.power,
      isolators: ports.isolators ?? NO_ISOLATORS,
      clock: ports.clock,
      gate: mc.fencing.gate,
      log,
      stopped: () => x.stopped(),
    });
  }

  /** The role machine starts again from boot (a reboot): fences still running become stale. */
  newLife(): void {
    this.life += 1;
  }

  /** The fence history: each attempt (level or isolation), oldest first. */
  attempts(): readonly FenceAttempt[] {
    return this.power.attempts();
  }

  /** A member's power as every fencing level reads it, and its switch port (`bmc NODE status`). */
  readPower(member: string): Promise<PowerReading> {
    return readPower(this.power, this.x.ports.isolators ?? NO_ISOLATORS, member);
  }

  /**
   * Fences a member through its BMC: the power command (`off`, or `cycle`), then status
   * reads until the power reads off (see `powerFence`). Only a power that never reads off
   * within `fencing.power_timeout_ms`, or a BMC error, is a failed fence. The outcome comes
   * back as a `fence-result` event naming the fence's `id` (the role machine's), which every
   * log line of this fence carries as `fenceId`.
   */
  async fence(target: string, id: number): Promise<void> {
    const x = this.x;
    // Rule: fence only what this server could take over from: a takeover it cannot persist
    // would leave the fenced server off and nobody holding the address.
    try {
      await x.ports.store.checkWritable();
    } catch (error) {
      x.log(
        'error',
        'fence-refused',
        `not fencing ${target} (fence ${id}): the state dir is not writable: ${message(error)}`,
        { target, fenceId: id },
      );
      if (x.state().phase !== 'halted') x.dispatch({ type: 'persist-failed', nowUs: x.now(), detail: message(error) });
      return;
    }
    const startUs = x.now();
    const life = this.life;
    x.counters.fences += 1;
    x.log('warn', 'fence-start', `fencing ${target} (fence ${id}, ${x.mc.fencing.powerCycle})`, {
      target,
      fenceId: id,
    });
    this.fencer.fence(target).then(
      (done) => {
        x.log('warn', 'fence-done', `fenced ${target} (fence ${id}): ${done.detail}`, {
          target,
          fenceId: id,
          tookUs: x.now() - startUs,
          offUs: done.offUs,
          polls: done.polls,
          by: done.by,
        });
        if (life !== this.life) return this.stale(target, id, done.detail);
        x.dispatch({ type: 'fence-result', nowUs: x.now(), id, target, ok: true, detail: done.detail, by: done.by });
      },
      (error: unknown) => {
        this.failed(target, id, startUs, error);
        if (life !== this.life) return;
        x.dispatch({ type: 'fence-result', nowUs: x.now(), id, target, ok: false, detail: message(error) });
      },
    );
  }

  /**
   * A fence the claim does not wait for (the `lease` gate): its outcome is logged, a failure
   * as an alarm, and with off-on fencing the server is powered on again once it read off.
   */
  detachedFence(target: string, id: number): void {
    const x = this.x;
    const startUs = x.now();
    x.counters.fences += 1;
    x.log(
      'warn',
      'fence-start',
      `fencing ${target} (fence ${id}, ${x.mc.fencing.powerCycle}); the claim waits for the lease, not for this`,
      { target, fenceId: id },
    );
    this.fencer.fence(target).then(
      (done) => {
        x.log('warn', 'fence-done', `fenced ${target} (fence ${id}): ${done.detail}`, {
          target,
          fenceId: id,
          tookUs: x.now() - startUs,
          by: done.by,
        });
        if (x.mc.fencing.powerCycle === 'off-on' && !x.stopped()) this.fencer.powerOn(target);
      },
      (error: unknown) => this.failed(target, id, startUs, error),
    );
  }

  /**
   * Powers a fenced member on again (off-on fencing), once its port may be restored;
   * `waitOffUntilUs`: first waits, up to then, for its power to read off (PowerControl.powerOn).
   */
  powerOn(target: string, waitOffUntilUs?: number): void {
    this.fencer.powerOn(target, waitOffUntilUs);
  }

  /** Operator fence of a member (never this server), as the board's power_cycle says. */
  async operatorFence(member: string): Promise<string> {
    const config = this.x.ports.config;
    if (member === config.node) throw new Error('refusing to fence this server itself');
    if (!config.cluster.members.some((m) => m.name === member))
      throw new Error(`no member named ${JSON.stringify(member)}`);
    this.x.log('warn', 'operator-fence', `operator fences ${member}`, { target: member });
    return (await this.power.fence(member)).detail;
  }

  /**
   * A fence that ended after this server rebooted: the takeover it served is gone (the
   * reboot already powered on what that takeover had fenced, perhaps before this power-off
   * took effect), so with off-on fencing the server is powered on again rather than left off.
   * A fence the new life needs is its own.
   */
  private stale(target: string, id: number, detail: string): void {
    // Not while the new life fences the same server: powering it on would only make that
    // fence wait for its power to go off again.
    const fence = this.x.state().fence;
    const fencedAgain = fence.status === 'running' && fence.targets.includes(target);
    const on = this.x.mc.fencing.powerCycle === 'off-on' && !this.x.stopped() && !fencedAgain;
    let then = '';
    if (on) then = `; powering ${target} on again`;
    else if (fencedAgain) then = '; this life fences it too';
    this.x.log(
      'warn',
      'fence-stale',
      `fenced ${target} (fence ${id}) for a takeover this server gave up when it rebooted (${detail}): not used${then}`,
      { target, fenceId: id },
    );
    if (on) this.fencer.powerOn(target);
  }

  private failed(target: string, id: number, startUs: number, error: unknown): void {
    this.x.counters.fenceFailures += 1;
    this.x.log('error', 'fence-error', `fencing ${target} (fence ${id}) failed: ${message(error)}`, {
      target,
      fenceId: id,
      tookUs: this.x.now() - startUs,
    });
  }
}
