/**
 * The probe cadence on a Clock and an IcmpEcho: the simulated driver (on the virtual clock
 * and the simulated LAN), and the reference the native thread is held to. It batches
 * exactly as the Prober contract says, so the role machine sees the same events from both.
 */
import type { Cancel, Clock } from '../clock/index.js';
import type { EchoReply, IcmpEcho } from '../icmp/index.js';
import type { ProbeBatch, ProbeRun, ProbeRunOptions, ProbeStats, Prober } from './index.js';

export class EchoLoopProber implements Prober {
  readonly description = 'probes on the event loop (echo-loop prober)';
  private readonly runs = new Set<(reply: EchoReply) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly icmp: IcmpEcho,
  ) {
    icmp.onReply((reply) => {
      for (const run of [...this.runs]) run(reply);
    });
  }

  start(options: ProbeRunOptions, onBatch: (batch: ProbeBatch) => void, onError: (error: Error) => void): ProbeRun {
    const { clock, icmp } = this;
    const stats: ProbeStats = { sent: 0, answered: 0, missed: 0, dropped: 0 };
    const outstanding = new Map<number, { sentUs: number; cancel: Cancel }>();
    let pending = empty();
    // The first answer of the run is handed over at once, like the first after a miss.
    let recovering = true;
    let stopped = false;
    let sequence = options.firstSequence;
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
      sequence = (sequence % 0xffff) + 1;
      try {
        icmp.send({ target: options.target, identifier: options.identifier, sequence: seq });
      } catch (error) {
        halt();
        onError(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      stats.sent += 1;
      pending.lateUs.push(Math.max(0, nowUs - due));
      outstanding.set(seq, { sentUs: nowUs, cancel: clock.at(nowUs + options.timeoutUs, () => expire(seq)) });
      due += options.intervalUs;
      if (due <= nowUs) due += Math.ceil((nowUs - due + 1) / options.intervalUs) * options.intervalUs;
      cancelTick = clock.at(due, tick);
    };
    const onReply = (reply: EchoReply): void => {
      const probe =
        reply.from === options.target && reply.identifier === options.identifier
          ? outstanding.get(reply.sequence)
          : undefined;
      if (probe === undefined) {
        stats.dropped += 1;
        pending.dropped += 1;
        return;
      }
      probe.cancel();
      outstanding.delete(reply.sequence);
      stats.answered += 1;
      pending.answered += 1;
      pending.lastReplyUs = reply.receivedUs;
      pending.lastRttUs = reply.receivedUs - probe.sentUs;
      if (recovering || pending.answered >= options.batch) {
        recovering = false;
        flush(null);
      }
    };
    const halt = (): void => {
      if (stopped) return;
      stopped = true;
      this.runs.delete(onReply);
      cancelTick();
      for (const probe of outstanding.values()) probe.cancel();
      outstanding.clear();
    };

    this.runs.add(onReply);
    cancelTick = clock.at(due, tick);
    return { stop: halt, stats: () => ({ ...stats }) };
  }
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
