import type { Bmc, BmcFactory, PowerState } from '../../hal/bmc/index.js';
import type { Clock } from '../../hal/clock/index.js';
import type { LogFields } from '../log/index.js';
import type { LogLevel } from '../role/index.js';

/** Power-on of a fenced server: attempts, first retry delay and the cap of its doubling backoff. */
const POWER_ON_ATTEMPTS = 8;
const POWER_ON_RETRY_US = 1_000_000;
const POWER_ON_RETRY_MAX_US = 60_000_000;

export interface PowerControlOptions {
  bmcs: BmcFactory;
  clock: Clock;
  /** `off-on`: a fence is `off`, and the server is powered on after the takeover; `cycle`: one cycle. */
  powerCycle: 'off-on' | 'cycle';
  /** fencing.power_poll_ms and fencing.power_timeout_ms. */
  pollMs: number;
  timeoutMs: number;
  log: (level: LogLevel, event: string, text: string, fields?: LogFields) => void;
  /** True once the agent stopped: no more polls or retries. */
  stopped: () => boolean;
}

export interface FenceDone {
  detail: string;
  /** From the power command to the power read as off. */
  offUs: number;
  polls: number;
}

/**
 * Power control of other members through their BMCs, the way a fence agent does it (one
 * command, then status polls until the power reads as wanted), plus the power-on of fenced
 * servers with retries. Decides nothing: the role machine asks, the executor calls.
 */
export class PowerControl {
  constructor(private readonly options: PowerControlOptions) {}

  /**
   * One power command, then status polls until the power reads off. Real BMCs acknowledge
   * at once and cut the power seconds later, so a single read-back would call a working
   * fence failed. `off-on` sends `off`; `cycle` sends `cycle` and needs the off half seen
   * by a poll (the BMC's own later on does not undo it).
   */
  async fence(target: string): Promise<FenceDone> {
    const bmc = this.options.bmcs.open(target);
    const command = this.options.powerCycle === 'off-on' ? 'off' : 'cycle';
    const startUs = this.now();
    await (command === 'off' ? bmc.off() : bmc.cycle());
    const ackUs = this.now();
    const polls = await this.pollUntil(bmc, 'off', command, ackUs);
    const offUs = this.now() - startUs;
    // The split shows where a slow fence spends its time: the command, or the BMC's off.
    const detail = `power off confirmed ${msText(offUs)} ms after power ${command} (acknowledged in ${msText(ackUs - startUs)} ms, ${polls} status ${polls === 1 ? 'poll' : 'polls'})`;
    return { detail, offUs, polls };
  }

  /**
   * Powers a fenced server on again and polls until it reads on. A failure is retried with a
   * doubling backoff (up to POWER_ON_ATTEMPTS), each one an error in the log, and the last an
   * alarm: a server left off is a server the cluster lost.
   */
  powerOn(target: string, attempt = 1): void {
    const bmc = this.options.bmcs.open(target);
    const run = async (): Promise<number> => {
      await bmc.on();
      return this.pollUntil(bmc, 'on', 'on', this.now());
    };
    run().then(
      (polls) =>
        this.options.log(
          'info',
          'power-on',
          `powered ${target} on again (confirmed, ${polls} status ${polls === 1 ? 'poll' : 'polls'}); it will boot and find the primary address taken`,
          { target, polls, attempt },
        ),
      (error: unknown) => this.retryPowerOn(target, attempt, error),
    );
  }

  private retryPowerOn(target: string, attempt: number, error: unknown): void {
    if (this.options.stopped()) return;
    if (attempt >= POWER_ON_ATTEMPTS) {
      this.options.log(
        'error',
        'power-on-abandoned',
        `gave up powering ${target} on after ${attempt} attempts: ${message(error)}; it stays off until someone powers it on`,
        { target, attempt },
      );
      return;
    }
    const delayUs = Math.min(POWER_ON_RETRY_US * 2 ** (attempt - 1), POWER_ON_RETRY_MAX_US);
    this.options.log(
      'error',
      'power-on-failed',
      `could not power ${target} on (attempt ${attempt}): ${message(error)}; retrying in ${delayUs / 1_000_000} s`,
      { target, attempt },
    );
    this.options.clock.at(this.now() + delayUs, () => {
      if (!this.options.stopped()) this.powerOn(target, attempt + 1);
    });
  }

  /**
   * Reads the power every `pollMs` (start to start) until it reads `want`; gives up at
   * `ackUs + timeoutMs`, after one last read at that deadline. Returns the number of reads.
   */
  private async pollUntil(bmc: Bmc, want: PowerState, command: string, ackUs: number): Promise<number> {
    const pollUs = this.options.pollMs * 1000;
    const timeoutMs = this.options.timeoutMs;
    const deadlineUs = ackUs + timeoutMs * 1000;
    for (let polls = 1; ; polls += 1) {
      const pollStartUs = this.now();
      const power = await bmc.status();
      if (power === want) return polls;
      if (this.options.stopped()) throw new Error(`agent stopped while waiting for the power to read ${want}`);
      if (this.now() >= deadlineUs)
        throw new Error(
          `power still ${power} ${msText(this.now() - ackUs)} ms after power ${command} was acknowledged (${polls} status polls; fencing.power_timeout_ms is ${timeoutMs})`,
        );
      const nextUs = Math.min(pollStartUs + pollUs, deadlineUs);
      await new Promise<void>((resolve) => this.options.clock.at(nextUs, resolve));
    }
  }

  private now(): number {
    return this.options.clock.nowUs();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Microseconds as milliseconds with one decimal, for fence log messages. */
function msText(us: number): string {
  return (us / 1000).toFixed(1);
}
