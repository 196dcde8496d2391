/**
 * The probe cadence in a native thread (hal/prober/prober.c, built by `make` into
 * dist/bin/hotspare-prober.node): sending, timing out and reading replies happen off the
 * event loop, which wakes about twice a second for answers and at once for a miss. Needs
 * root or CAP_NET_RAW (its own raw ICMP socket). What it saves the event loop is measured
 * in bench-results/latest.md ("probe core") and README ("The probe engines").
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { IcmpError } from '../errors/index.js';
import type { IcmpEcho } from '../icmp/index.js';
import type { ProbeBatch, ProbeRun, ProbeRunOptions, ProbeStats, Prober } from './index.js';

/** dist/bin/hotspare-prober.node, found from this compiled module (dist/hal/prober/). */
export const DEFAULT_PROBER_ADDON = fileURLToPath(new URL('../../bin/hotspare-prober.node', import.meta.url));

interface NativeBatch {
  answered: number;
  lastSequence: number;
  lastReplyUs: number;
  lastRttUs: number;
  missed: number;
  missedSentUs: number;
  lateUs: number[];
  dropped: number;
  error: string | null;
}

interface AddonProber {
  stop(): void;
  stats(): ProbeStats;
}

interface ProberBinding {
  Prober: new (
    options: ProbeRunOptions & { identifier: number; priority: number },
    onBatch: (batch: NativeBatch) => void,
  ) => AddonProber;
}

export interface NativeProberOptions {
  /** Where each run's ICMP identifier comes from: the agent's IcmpEcho, which allocates them all. */
  identifiers: Pick<IcmpEcho, 'newIdentifier'>;
  /** dist/bin/hotspare-prober.node by default. */
  path?: string;
  /**
   * The agent's real-time priority (clock.realtime, 1..99; 0: the normal scheduler). The probe
   * thread runs one above it, so that the main thread, busy with the shell, a sync or a GC
   * pause at the same priority, cannot hold a probe back (SCHED_FIFO does not preempt
   * within one priority).
   */
  realtime?: number;
}

/** The probe thread's SCHED_FIFO priority for the agent's `realtime` (0: none). */
export function threadPriority(realtime: number): number {
  return realtime === 0 ? 0 : Math.min(99, realtime + 1);
}

const require = createRequire(import.meta.url);

export class NativeProber implements Prober {
  readonly description: string;

  private constructor(
    private readonly binding: ProberBinding,
    path: string,
    private readonly realtime: number,
    private readonly identifiers: Pick<IcmpEcho, 'newIdentifier'>,
  ) {
    this.description = `native probe thread (${path})${realtime > 0 ? `, SCHED_FIFO ${threadPriority(realtime)}` : ''}`;
  }

  /** Loads the addon; throws IcmpError naming the path when it is missing or not ours. */
  static load(options: NativeProberOptions): NativeProber {
    const { path = DEFAULT_PROBER_ADDON, realtime = 0, identifiers } = options;
    if (!Number.isInteger(realtime) || realtime < 0 || realtime > 99)
      throw new IcmpError(`prober realtime must be an integer 0..99, got ${String(realtime)}`);
    let loaded: unknown;
    try {
      loaded = require(path);
    } catch (error) {
      const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
      const detail =
        code === 'MODULE_NOT_FOUND'
          ? 'not built (Node headers missing at build time?)'
          : error instanceof Error
            ? error.message
            : String(error);
      throw new IcmpError(`prober addon ${path}: ${detail}`, { cause: error });
    }
    if (
      typeof loaded !== 'object' ||
      loaded === null ||
      typeof (loaded as Record<string, unknown>)['Prober'] !== 'function'
    ) {
      throw new IcmpError(`prober addon ${path}: not the hotspare prober addon`);
    }
    return new NativeProber(loaded as ProberBinding, path, realtime, identifiers);
  }

  start(options: ProbeRunOptions, onBatch: (batch: ProbeBatch) => void, onError: (error: Error) => void): ProbeRun {
    let stopped = false;
    let native: AddonProber | null = null;
    const deliver = (b: NativeBatch): void => {
      // Batches queued by the thread before stop() may still arrive: they are dropped here.
      if (stopped) return;
      if (b.answered > 0 || b.missed >= 0 || b.lateUs.length > 0 || b.dropped > 0) {
        onBatch({
          answered: b.answered,
          lastReplyUs: b.answered > 0 ? b.lastReplyUs : null,
          lastRttUs: b.answered > 0 ? b.lastRttUs : null,
          missed: b.missed >= 0 ? b.missed : null,
          lateUs: b.lateUs,
          dropped: b.dropped,
        });
      }
      if (b.error !== null && !stopped) {
        stopped = true;
        native?.stop();
        onError(new IcmpError(`probe thread stopped: ${b.error}`));
      }
    };
    try {
      native = new this.binding.Prober(
        { ...options, identifier: this.identifiers.newIdentifier(), priority: threadPriority(this.realtime) },
        deliver,
      );
    } catch (error) {
      throw new IcmpError(
        `cannot start probing ${options.target}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const run = native;
    return {
      stop: () => {
        stopped = true;
        run.stop();
      },
      stats: () => run.stats(),
    };
  }
}
