/**
 * The probe cadence in TypeScript, on a Clock (`probe.engine: event-loop`): the engine of
 * the simulation (virtual clock, simulated LAN), the fallback where the native thread is
 * not built, and the reference the native thread (prober.c) is held to. It batches exactly
 * as the Prober contract says, so the role machine sees the same events from every engine.
 */
import type { Cancel, Clock } from '../clock/index.js';
import { nextSequence } from '../icmp/identifiers.js';
import type {
  ProbeAnswer,
  ProbeBatch,
  ProbeChannel,
  ProbeChannels,
  ProbeRun,
  ProbeRunOptions,
  ProbeStats,
  Prober,
} from './index.js';

export class EventLoopProber implements Prober {
  readonly description: string;

  constructor(
    private readonly clock: Clock,
    private readonly channels: ProbeChannels,
  ) {
    this.description = `probes on the event loop (${channels.description})`;
  }

  start(options: ProbeRunOptions, onBatch: (batch: ProbeBatch) => void, onError: (error: Error) => void): ProbeRun {
    const { clock } = this;
    const stats: ProbeStats = { sent: 0, answered: 0, missed: 0, dropped: 0 };
    const outstanding = new Map<number, { sentUs: number; cancel: Cancel }>();
    let pending = empty();
    // The first answer of the run is handed over at once, like the first after a miss.
    let recovering = true;
    let stopped = false;
    let sequence = 1;
    let due = options.startUs;
    let cancelTick: Cancel = () => undefined;

    const flush = (missed: number | null): void => {
      const batch = { ...pending, missed };
      pending = empty();
      onBatch(batch);
    };
    const expire = (seq: number): void => {
      if (stopped || !outstanding.delete(seq)) return;
      stats.missed += 1;
      recovering = true;
      flush(seq);
    };
    const tick = (): void => {
      if (stopped) return;
      const nowUs = clock.nowUs();
      const seq = sequence;
      sequence = nextSequence(sequence);
      try {
        channel.send(seq);
      } catch (error) {
        halt();
        onError(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      stats.sent += 1;
      pending.lateUs.push(Math.max(0, nowUs - due));
      outstanding.set(seq, { sentUs: nowUs, cancel: clock.at(nowUs + options.timeoutUs, () => expire(seq)) });
      due = nextDeadline(due, nowUs, options.intervalUs);
      cancelTick = clock.at(due, tick);
    };
    const onAnswer = (answer: ProbeAnswer): void => {
      if (stopped) return;
      const probe = outstanding.get(answer.sequence);
      if (probe === undefined) {
        stats.dropped += 1;
        pending.dropped += 1;
        return;
      }
      probe.cancel();
      outstanding.delete(answer.sequence);
      stats.answered += 1;
      pending.answered += 1;
      pending.lastReplyUs = answer.receivedUs;
      pending.lastRttUs = answer.receivedUs - probe.sentUs;
      if (recovering || pending.answered >= options.batch) {
        recovering = false;
        flush(null);
      }
    };
    const halt = (): void => {
      if (stopped) return;
      stopped = true;
      channel.close();
      cancelTick();
      for (const probe of outstanding.values()) probe.cancel();
      outstanding.clear();
    };

    const channel: ProbeChannel = this.channels.open(options.target, options.timeoutUs, onAnswer);
    cancelTick = clock.at(due, tick);
    return { stop: halt, stats: () => ({ ...stats }) };
  }
}

/**
 * The deadline after `dueUs`: one interval later, not one after now, so lateness does not
 * accumulate; when that is already past (the loop fell behind by more than an interval),
 * the missed slots are skipped instead of sent as a burst.
 */
export function nextDeadline(dueUs: number, nowUs: number, intervalUs: number): number {
  const next = dueUs + intervalUs;
  return next > nowUs ? next : next + Math.ceil((nowUs - next + 1) / intervalUs) * intervalUs;
}

function empty(): {
  answered: number;
  lastReplyUs: number | null;
  lastRttUs: number | null;
  lateUs: number[];
  dropped: number;
} {
  return { answered: 0, lastReplyUs: null, lastRttUs: null, lateUs: [], dropped: 0 };
}
