import { batchFor } from '../../hal/prober/index.js';
import type { ProbeBatch, ProbeRun } from '../../hal/prober/index.js';
import type { SampleSummary } from './samples.js';
import { Samples } from './samples.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';

/** The monitor's probing: the Prober runs the cadence; its batches become `probe-batch` events. */
export class MonitorProbing {
  private run: ProbeRun | null = null;
  private readonly rtt = new Samples();
  private readonly jitter = new Samples();

  constructor(private readonly x: ExecutorContext) {}

  start(atUs: number): void {
    this.stop();
    const x = this.x;
    const { intervalUs, timeoutUs } = x.mc.probe;
    try {
      this.run = x.ports.prober.start(
        { target: x.primaryIp, intervalUs, timeoutUs, startUs: atUs, batch: batchFor(intervalUs) },
        (batch) => this.onBatch(batch),
        (error) => {
          this.run = null;
          x.dispatch({ type: 'probe-failed', nowUs: x.now(), detail: message(error) });
        },
      );
    } catch (error) {
      x.dispatch({ type: 'probe-failed', nowUs: x.now(), detail: message(error) });
    }
  }

  stop(): void {
    this.run?.stop();
    this.run = null;
  }

  samples(): { rttUs: SampleSummary; probeJitterUs: SampleSummary } {
    return { rttUs: this.rtt.summary(), probeJitterUs: this.jitter.summary() };
  }

  private onBatch(batch: ProbeBatch): void {
    const { counters } = this.x;
    counters.probesSent += batch.lateUs.length;
    for (const late of batch.lateUs) this.jitter.add(late);
    counters.replies += batch.answered;
    counters.foreignReplies += batch.dropped;
    if (batch.lastRttUs !== null) this.rtt.add(batch.lastRttUs);
    if (batch.answered === 0 && batch.missed === null) return;
    this.x.dispatch({
      type: 'probe-batch',
      nowUs: this.x.now(),
      answered: batch.answered,
      lastReplyUs: batch.lastReplyUs,
      missed: batch.missed,
    });
  }
}
