import type { Bmc, BmcFactory, PowerState } from '../../hal/bmc/index.js';
import type { Clock } from '../../hal/clock/index.js';
import type { LogFields } from '../log/index.js';
import type { LogLevel } from '../role/index.js';
import { msText } from '../log/ms-text.js';

/** Power-on of a fenced server: attempts, first retry delay and the cap of its doubling backoff. */
const POWER_ON_ATTEMPTS = 8;
const POWER_ON_RETRY_US = 1_000_000;
const POWER_ON_RETRY_MAX_US = 60_000_000;
/**
 * A fence's status polls this far apart leave a window in which the power may have gone off
 * and on again unseen: at least 1 s, 10 poll intervals, and 3 times the quickest status round
 * trip of the fence (a BMC whose every answer takes seconds is slow, not blind).
 */
const FENCE_BLIND_MIN_US = 1_000_000;
const FENCE_BLIND_POLLS = 10;
const FENCE_BLIND_ROUND_TRIPS = 3;
/** Fence attempts kept for status (the log has them all). */
const ATTEMPT_HISTORY = 50;
/**
 * The window of quick status polls around the board's typical power-off time T
 * (`bmc.power_off_ms`), from the off's acknowledgement: from 3/4 T - 100 ms to 3/2 T + 100 ms.
 * A BMC that carries out its off in that window is read off within one quick poll instead of
 * one `fencing.power_poll_ms`; outside it the BMC is not asked more often than before.
 */
const QUICK_FROM = 0.75;
const QUICK_TO = 1.5;
const QUICK_SLACK_MS = 100;

/** Quick status polls of a fence (`fencing.power_poll_quick_ms`), in ms after the acknowledgement. */
export interface QuickPolls {
  pollMs: number;
  fromMs: number;
  toMs: number;
}

/**
 * The quick polls for a board whose BMC typically takes `powerOffMs` to cut the power, or null
 * when the board does not say (no window to aim at) or quick polls are off (0) or no quicker
 * than the normal ones.
 */
export function quickPolls(powerOffMs: number | null, quickMs: number, pollMs: number): QuickPolls | null {
  if (powerOffMs === null || quickMs <= 0 || quickMs >= pollMs) return null;
  return {
    pollMs: quickMs,
    fromMs: Math.max(0, QUICK_FROM * powerOffMs - QUICK_SLACK_MS),
    toMs: QUICK_TO * powerOffMs + QUICK_SLACK_MS,
  };
}

/**
 * When a fence's next status poll starts, given the start of this one: `pollUs` later, but
 * every quick interval while inside the quick window, and at the window's start if it opens
 * before the normal next poll. Times in µs; `ackUs` is the off's acknowledgement.
 */
export function nextPollUs(pollStartUs: number, ackUs: number, pollUs: number, quick: QuickPolls | null): number {
  const normalUs = pollStartUs + pollUs;
  if (quick === null) return normalUs;
  const fromUs = ackUs + quick.fromMs * 1000;
  const toUs = ackUs + quick.toMs * 1000;
  if (normalUs <= fromUs || pollStartUs >= toUs) return normalUs;
  return Math.max(pollStartUs + quick.pollMs * 1000, Math.min(normalUs, fromUs));
}

/**
 * One fencing level of a member (Pacemaker's fencing topology): a device that can cut its
 * power. Level 1 is the member's BMC; the next levels are other devices (a PDU outlet through
 * a fence agent, the same BMC through another client), tried in order when the one before
 * failed.
 */
export interface FenceLevel {
  /** For logs and the attempt history: `BMC 198.18.1.11`, `fence_apc_snmp 10.0.0.5 plug 3`; no secret. */
  device: string;
  bmc: Bmc;
  /**
   * null: the BMC's own limits (the client's command timeout, then fencing.power_timeout_ms
   * from the acknowledgement to the power reading off). A number: the whole attempt, command
   * and reads, within this many ms.
   */
  timeoutMs: number | null;
  /** Why this level must not be used now (a BMC that is not this member's), or null. */
  refusal?: () => string | null;
}

/** Every fencing level of a member, in order; level 1 first. */
export interface FenceLevels {
  levels(member: string): FenceLevel[];
}

/** One try of one level (or of the member's isolation), for the fence history. */
export interface FenceAttempt {
  atMs: number;
  target: string;
  /** `power`: a fencing level; `isolation`: the cut of its switch port (the `isolated` gate). */
  kind: 'power' | 'isolation';
  /** 1-based; 0 for an isolation (no fencing level). */
  level: number;
  device: string;
  ok: boolean;
  /** From the start of this level's attempt to its end. */
  tookUs: number;
  detail: string;
}

/** One level's answer to a power read (`bmc NODE status`). */
export interface LevelReading {
  level: number;
  device: string;
  /** null: the read failed (`error` says why). */
  power: PowerState | null;
  error: string | null;
  tookUs: number;
}

export interface PowerControlOptions {
  bmcs: BmcFactory;
  /** The members' fencing levels; absent or null: one level, the BMC from `bmcs`. */
  levels?: FenceLevels | null;
  clock: Clock;
  /** `off-on`: a fence is `off`, and the server is powered on after the takeover; `cycle`: one cycle. */
  powerCycle: 'off-on' | 'cycle';
  /** fencing.power_poll_ms and fencing.power_timeout_ms. */
  pollMs: number;
  timeoutMs: number;
  /** fencing.power_resend_ms: a fence still reading on this long after its command sends it again; 0: never. Absent: 0. */
  resendMs?: number;
  /** A fence's quick polls around the BMC's typical power-off time (`quickPolls`); absent or null: none. */
  quick?: QuickPolls | null;
  log: (level: LogLevel, event: string, text: string, fields?: LogFields) => void;
  /** True once the agent stopped: no more polls or retries. */
  stopped: () => boolean;
  /** A power-on was confirmed (the power read on after it): the fence's record can let go of it. */
  onPoweredOn?: (target: string) => void;
}

export interface FenceDone {
  detail: string;
  /** From the power command to the power read as off. */
  offUs: number;
  polls: number;
  /** The level that fenced (1-based) and every attempt of this fence, failed ones first. */
  level: number;
  attempts: FenceAttempt[];
}

/** Every level of a fence failed; the message names each attempt. */
export class FenceFailedError extends Error {
  override name = 'FenceFailedError';

  constructor(
    readonly target: string,
    readonly attempts: readonly FenceAttempt[],
  ) {
    super(
      `every fencing level of ${target} failed: ${attempts.map((a) => `level ${a.level} (${a.device}): ${a.detail}`).join('; ')}`,
    );
  }
}

/** One fencing level's attempt, as `record` takes it. */
interface AttemptRecord {
  target: string;
  /** The level's number, from 1. */
  level: number;
  fenceLevel: FenceLevel;
  /** The power read off. */
  ok: boolean;
  startUs: number;
  detail: string;
  /** With one level, fence-done and fence-error (the agent's) say it all: not logged here. */
  logged: boolean;
}

/**
 * Power control of other members through their BMCs, the way a fence agent does it (one
 * command, then status polls until the power reads as wanted), plus the power-on of fenced
 * servers with retries. Decides nothing: the role machine asks, the executor calls.
 */
export class PowerControl {
  constructor(private readonly options: PowerControlOptions) {}

  /** The devices each fence used last, per target: the one that cut the power turns it on again. */
  private readonly fencedBy = new Map<string, Bmc>();
  private readonly history: FenceAttempt[] = [];

  /**
   * Fences `target` through its fencing levels in order: the first level whose power reads
   * off ends the fence; a level that fails (an error, the power still on at its limit, or a
   * refusal) is logged and the next one tried. One level (no `levels`): its error as it was.
   */
  async fence(target: string): Promise<FenceDone> {
    const levels = this.levelsOf(target);
    const attempts: FenceAttempt[] = [];
    let lastError: unknown = null;
    for (const [index, level] of levels.entries()) {
      const number = index + 1;
      const startUs = this.now();
      const refusal = level.refusal?.() ?? null;
      try {
        if (refusal !== null) throw new Error(`refused: ${refusal}`);
        const done = await this.fenceAt(level);
        attempts.push(
          this.record({
            target,
            level: number,
            fenceLevel: level,
            ok: true,
            startUs,
            detail: done.detail,
            logged: levels.length > 1,
          }),
        );
        this.fencedBy.set(target, level.bmc);
        const detail = levels.length === 1 ? done.detail : `level ${number} (${level.device}): ${done.detail}`;
        return { ...done, detail, level: number, attempts };
      } catch (error) {
        lastError = error;
        attempts.push(
          this.record({
            target,
            level: number,
            fenceLevel: level,
            ok: false,
            startUs,
            detail: message(error),
            logged: levels.length > 1,
          }),
        );
        if (this.options.stopped()) break;
        if (index + 1 < levels.length)
          this.options.log(
            'error',
            'fence-level-failed',
            `fencing ${target} at level ${number} (${level.device}) failed: ${message(error)}; trying level ${number + 1} (${levels[index + 1]?.device ?? '?'})`,
            { target, fenceLevel: number, tookUs: this.now() - startUs },
          );
      }
    }
    if (levels.length === 1 && lastError !== null) throw lastError;
    throw new FenceFailedError(target, attempts);
  }

  /** The last fence attempts, oldest first (at most ATTEMPT_HISTORY). */
  attempts(): readonly FenceAttempt[] {
    return this.history;
  }

  /** Notes a cut of `target`'s switch port (IsolatingFence) in the same history. */
  recordIsolation(target: string, device: string, ok: boolean, tookUs: number, detail: string): void {
    this.remember({
      atMs: this.options.clock.wallMs(),
      target,
      kind: 'isolation',
      level: 0,
      device,
      ok,
      tookUs,
      detail,
    });
  }

  /**
   * Reads `target`'s power through each of its fencing levels (`bmc NODE status`), one after
   * the other; a level that fails gives its error, not the whole answer. Rejects only when the
   * member has no fencing device.
   */
  async readLevels(target: string): Promise<LevelReading[]> {
    const readings: LevelReading[] = [];
    for (const [index, level] of this.levelsOf(target).entries()) {
      const startUs = this.now();
      const reading = await level.bmc.status().then(
        (power) => ({ power, error: null }),
        (error: unknown) => ({ power: null, error: message(error) }),
      );
      readings.push({ level: index + 1, device: level.device, ...reading, tookUs: this.now() - startUs });
    }
    return readings;
  }

  private remember(attempt: FenceAttempt): void {
    this.history.push(attempt);
    if (this.history.length > ATTEMPT_HISTORY) this.history.shift();
  }

  private levelsOf(target: string): FenceLevel[] {
    const levels = this.options.levels?.levels(target) ?? [
      { device: 'BMC', bmc: this.options.bmcs.open(target), timeoutMs: null },
    ];
    if (levels.length === 0) throw new Error(`${target} has no fencing device (no bmc, no fence_levels)`);
    return levels;
  }

  /** Remembers one level's attempt, and logs it when `logged`. */
  private record({ target, level, fenceLevel, ok, startUs, detail, logged }: AttemptRecord): FenceAttempt {
    const attempt: FenceAttempt = {
      atMs: this.options.clock.wallMs(),
      target,
      kind: 'power',
      level,
      device: fenceLevel.device,
      ok,
      tookUs: this.now() - startUs,
      detail,
    };
    this.remember(attempt);
    if (logged)
      this.options.log(
        ok ? 'info' : 'warn',
        'fence-attempt',
        `fence of ${target}, level ${level} (${fenceLevel.device}): ${ok ? 'power off confirmed' : 'failed'} in ${msText(attempt.tookUs)} ms: ${detail}`,
        { target, fenceLevel: level, ok, tookUs: attempt.tookUs },
      );
    return attempt;
  }

  /**
   * One power command, then status polls until the power reads off. Real BMCs acknowledge
   * at once and cut the power seconds later, so a single read-back would call a working
   * fence failed. `off-on` sends `off`; `cycle` sends `cycle` and needs the off half seen
   * by a poll (the BMC's own later on does not undo it). A level with its own limit must
   * have the power read off within it, command included.
   */
  private async fenceAt(level: FenceLevel): Promise<Omit<FenceDone, 'level' | 'attempts'>> {
    const bmc = level.bmc;
    const command = this.options.powerCycle === 'off-on' ? 'off' : 'cycle';
    const startUs = this.now();
    const limitUs = level.timeoutMs === null ? null : startUs + level.timeoutMs * 1000;
    const sent = command === 'off' ? bmc.off() : bmc.cycle();
    await (limitUs === null ? sent : this.within(sent, limitUs, `power ${command} not acknowledged`, level));
    const ackUs = this.now();
    const deadlineUs = limitUs ?? ackUs + this.options.timeoutMs * 1000;
    const polls = await this.pollUntil(bmc, {
      want: 'off',
      command,
      ackUs,
      deadlineUs,
      limitName: level.timeoutMs === null ? 'fencing.power_timeout_ms' : "the level's timeout_ms",
      limitMs: level.timeoutMs ?? this.options.timeoutMs,
      resend: () => (command === 'off' ? bmc.off() : bmc.cycle()),
      quick: this.options.quick ?? null,
    });
    const offUs = this.now() - startUs;
    // The split shows where a slow fence spends its time: the command, or the BMC's off.
    const detail = `power off confirmed ${msText(offUs)} ms after power ${command} (acknowledged in ${msText(ackUs - startUs)} ms, ${polls} status ${polls === 1 ? 'poll' : 'polls'})`;
    return { detail, offUs, polls };
  }

  /** `work`, or a rejection at `limitUs` (the work goes on; its client has its own limit). */
  private within<T>(work: Promise<T>, limitUs: number, what: string, level: FenceLevel): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.options.clock.at(limitUs, () =>
        reject(new Error(`${what} within the level's timeout_ms (${level.timeoutMs ?? '?'} ms)`)),
      );
      work.then(
        (value) => {
          cancel();
          resolve(value);
        },
        (error: unknown) => {
          cancel();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /**
   * Powers a fenced server on again and polls until it reads on. A failure is retried with a
   * doubling backoff (up to POWER_ON_ATTEMPTS), each one an error in the log, and the last an
   * alarm: a server left off is a server the cluster lost.
   *
   * `waitOffUntilUs`: an off this agent decided may still be pending in the BMC until then
   * (a restart while the BMC held the power button): the power is read until it is off, and
   * only then switched on, since some BMCs drop an on that comes while they carry out an off.
   * At that time, or if the BMC cannot be read, the on goes out anyway.
   */
  powerOn(target: string, waitOffUntilUs?: number, attempt = 1): void {
    const run = async (): Promise<number> => {
      // The device that cut the power; without one (the fence ran in an earlier run of this
      // agent), the member's first level: its BMC, or its first fence_levels device.
      const bmc = this.fencedBy.get(target) ?? this.levelsOf(target)[0]?.bmc ?? this.options.bmcs.open(target);
      if (waitOffUntilUs !== undefined && this.now() < waitOffUntilUs) await this.waitForOff(bmc, waitOffUntilUs);
      await bmc.on();
      const ackUs = this.now();
      return this.pollUntil(bmc, {
        want: 'on',
        command: 'on',
        ackUs,
        deadlineUs: ackUs + this.options.timeoutMs * 1000,
        limitName: 'fencing.power_timeout_ms',
        limitMs: this.options.timeoutMs,
        resend: null,
        // The board's typical time is a power-off's; a power-on is polled at the normal rate.
        quick: null,
      });
    };
    run().then(
      (polls) => {
        this.options.log(
          'info',
          'power-on',
          `powered ${target} on again (confirmed, ${polls} status ${polls === 1 ? 'poll' : 'polls'}); it will boot and find the primary address taken`,
          { target, polls, attempt },
        );
        this.options.onPoweredOn?.(target);
      },
      (error: unknown) => this.retryPowerOn(target, attempt, error, waitOffUntilUs),
    );
  }

  /** Reads `bmc` until the power is off or `untilUs` has come; never throws. */
  private async waitForOff(bmc: Bmc, untilUs: number): Promise<void> {
    const target = bmc.member;
    const startUs = this.now();
    this.options.log(
      'info',
      'power-on-wait',
      `waiting up to ${msText(untilUs - startUs)} ms for ${target}'s power to read off before powering it on: its BMC may still be carrying out the off this server sent`,
      { target, waitMs: Math.ceil((untilUs - startUs) / 1000) },
    );
    try {
      const polls = await this.pollUntil(bmc, {
        want: 'off',
        command: 'off',
        ackUs: startUs,
        deadlineUs: untilUs,
        limitName: 'fencing.power_timeout_ms',
        limitMs: this.options.timeoutMs,
        resend: null,
        quick: null,
        since: 'this agent began waiting for it to read off',
      });
      this.options.log(
        'info',
        'power-on-wait',
        `${target}'s power reads off after ${msText(this.now() - startUs)} ms (${polls} status ${polls === 1 ? 'poll' : 'polls'}); powering it on`,
        { target, polls },
      );
    } catch (error) {
      this.options.log('warn', 'power-on-wait', `${message(error)}; powering ${target} on now`, { target });
    }
  }

  private retryPowerOn(target: string, attempt: number, error: unknown, waitOffUntilUs?: number): void {
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
      if (!this.options.stopped()) this.powerOn(target, waitOffUntilUs, attempt + 1);
    });
  }

  /**
   * Reads the power every `pollMs` (start to start; quicker inside `spec.quick`'s window)
   * until it reads `want`; gives up at
   * `deadlineUs`, after one last read at that deadline. Returns the number of reads.
   *
   * A fence's poll that still reads on sends the command again (the deadline stays) when:
   * - it follows a blind spell (its start more than FENCE_BLIND_* after the previous poll's
   *   start: this agent stalled, or one answer was slow): the power may have gone off and been
   *   turned on again by someone else in that time;
   * - or the command was last sent `resendMs` ago or more: someone may have powered the server
   *   on again before any poll read it off, however short the polls were.
   * A fence must see the power off; an off sent to a server that is already going off is
   * harmless, one that was powered on again is what ends the wait.
   */
  private async pollUntil(bmc: Bmc, spec: PollSpec): Promise<number> {
    const { want, command, ackUs, deadlineUs, limitName, limitMs } = spec;
    const pollUs = this.options.pollMs * 1000;
    const resendUs = (this.options.resendMs ?? 0) * 1000;
    let previousUs = ackUs;
    let sentUs = ackUs;
    let quickestUs = Infinity;
    for (let polls = 1; ; polls += 1) {
      const pollStartUs = this.now();
      const power = await bmc.status();
      if (power === want) return polls;
      if (this.options.stopped()) throw new Error(`agent stopped while waiting for the power to read ${want}`);
      quickestUs = Math.min(quickestUs, this.now() - pollStartUs);
      const blindAfterUs = Math.max(
        FENCE_BLIND_MIN_US,
        FENCE_BLIND_POLLS * pollUs,
        FENCE_BLIND_ROUND_TRIPS * quickestUs,
      );
      if (spec.resend !== null) {
        if (pollStartUs - previousUs > blindAfterUs) {
          await this.resend(bmc, spec, 'blind', pollStartUs - previousUs);
          sentUs = this.now();
        } else if (resendUs > 0 && pollStartUs - sentUs >= resendUs) {
          await this.resend(bmc, spec, 'still-on', pollStartUs - sentUs);
          sentUs = this.now();
        }
      }
      previousUs = pollStartUs;
      if (this.now() >= deadlineUs)
        throw new Error(
          `power still ${power} ${msText(this.now() - ackUs)} ms after ${spec.since ?? `power ${command} was acknowledged`} (${polls} status polls; ${limitName} is ${limitMs})`,
        );
      const nextUs = Math.min(nextPollUs(pollStartUs, ackUs, pollUs, spec.quick), deadlineUs);
      await new Promise<void>((resolve) => this.options.clock.at(nextUs, resolve));
    }
  }

  /**
   * Sends a fence's command again (see pollUntil): after a blind spell of `forUs`, or with the
   * power still on `forUs` after the command was last sent. A failure is logged and polling
   * goes on.
   */
  private async resend(bmc: Bmc, spec: PollSpec, why: 'blind' | 'still-on', forUs: number): Promise<void> {
    const text =
      why === 'blind'
        ? `no power reading of ${bmc.member} for ${msText(forUs)} ms (this agent or the BMC stalled) and it reads on: it may have gone off and on again unseen; sending power ${spec.command} again`
        : `${bmc.member} still reads on ${msText(forUs)} ms after power ${spec.command} was sent (fencing.power_resend_ms): it may have been powered on again before a poll read it off; sending power ${spec.command} again`;
    this.options.log('warn', 'fence-resent', text, { target: bmc.member, why, forUs });
    await spec.resend?.().catch((error: unknown) =>
      this.options.log(
        'error',
        'fence-resend-failed',
        `power ${spec.command} to ${bmc.member} again failed: ${message(error)}`,
        {
          target: bmc.member,
        },
      ),
    );
  }

  private now(): number {
    return this.options.clock.nowUs();
  }
}

/** What `pollUntil` waits for, and how long. */
interface PollSpec {
  want: PowerState;
  /** The command that was acknowledged at `ackUs` (for messages, and for `resend`). */
  command: string;
  ackUs: number;
  deadlineUs: number;
  /** The setting that gave the deadline, and its value, for the timeout's message. */
  limitName: string;
  limitMs: number;
  /** A fence's command, sent again after a blind spell; null: never. */
  resend: (() => Promise<void>) | null;
  /** Quick polls around the typical power-off time; null: `pollMs` throughout. */
  quick: QuickPolls | null;
  /** What happened at `ackUs`, for the timeout's message (default: the command's acknowledgement). */
  since?: string;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
