import type { Cancel } from '../../hal/clock/index.js';
import { handoverWindowUs } from '../role/index.js';
import type { ExecutorContext } from './context.js';

/** How a handover ended: the member that took the primary address over, or none in time. */
export interface HandoverOutcome {
  /** null: no member claimed the address within the limit. */
  taker: string | null;
  epoch: number | null;
  /** Milliseconds from the primary's step down to the acknowledgement (or to the limit). */
  afterMs: number;
}

/** The longest wait for an acknowledgement: a clean stop must end within its 5 s limit. */
const LIMIT_US = 3_000_000;

interface Pending {
  heldEpoch: number;
  startUs: number;
  cancel: Cancel;
  resolve: (outcome: HandoverOutcome) => void;
}

/**
 * The acknowledgement of a handover (demote, failed health check, clean stop): after a
 * primary becomes a spare, an authenticated heartbeat from a member saying it holds the
 * primary address at an epoch above the one this server held it at (the monitor confirmed
 * the silence and claimed without a fence). Logged as `handover-acked`, or, after the
 * monitor's detection and confirm windows, the final sync and 1 s (at most 3 s), as
 * `handover-unacked`, an error: a monitor that did not hear the release fences this server,
 * and without a monitor nobody holds the address. Only with the peer protocol on.
 */
export class HandoverAck {
  private pending: Pending | null = null;
  private last: { startUs: number; outcome: Promise<HandoverOutcome> } | null = null;

  constructor(private readonly x: ExecutorContext) {}

  /** This server held the primary address at `heldEpoch` and has just stepped down. */
  start(heldEpoch: number): void {
    this.finish(null, false);
    const x = this.x;
    const limitUs = Math.min(handoverWindowUs(x.mc), LIMIT_US);
    const startUs = x.now();
    const outcome = new Promise<HandoverOutcome>((resolve) => {
      const cancel = x.ports.clock.at(startUs + limitUs, () => this.finish(null, true));
      this.pending = { heldEpoch, startUs, cancel, resolve };
    });
    this.last = { startUs, outcome };
  }

  /** An authenticated heartbeat: what `node` says it holds, at which epoch. */
  onPeer(node: string, epoch: number, holdsPrimary: boolean): void {
    const pending = this.pending;
    if (pending !== null && holdsPrimary && epoch > pending.heldEpoch) this.finish({ node, epoch }, true);
  }

  /** The latest handover's outcome if it began at or after `sinceUs`; null: none did. */
  since(sinceUs: number): Promise<HandoverOutcome> | null {
    return this.last !== null && this.last.startUs >= sinceUs ? this.last.outcome : null;
  }

  /** The agent stopped, or is primary again: a wait in progress ends unacknowledged, without a log line. */
  stop(): void {
    this.finish(null, false);
  }

  private finish(taker: { node: string; epoch: number } | null, report: boolean): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    pending.cancel();
    const x = this.x;
    const afterMs = Math.round((x.now() - pending.startUs) / 1000);
    if (report && taker !== null)
      x.log(
        'info',
        'handover-acked',
        `${taker.node} holds the primary address at epoch ${taker.epoch}, ${afterMs} ms after this server stepped down`,
        {
          taker: taker.node,
          epoch: taker.epoch,
          afterMs,
        },
      );
    else if (report)
      x.log(
        'error',
        'handover-unacked',
        `no member claimed the primary address within ${afterMs} ms of this server stepping down: a monitor that did not hear the release fences this server, and without a monitor nobody holds the address`,
        { afterMs },
      );
    pending.resolve({ taker: taker?.node ?? null, epoch: taker?.epoch ?? null, afterMs });
  }
}
