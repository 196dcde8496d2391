/**
 * Rate limit for the sync server's refusal lines, so that a flood of connections cannot
 * flood the log: at most one line per peer address per `perPeerMs`, and at most `perWindow`
 * lines in all per `perPeerMs` whatever the number of addresses. What is held back is
 * counted and reported with the next line that goes out.
 */
export interface RefusalLogLimits {
  perPeerMs: number;
  perWindow: number;
}

/** Peers remembered at most; past this the memory is cleared (the worst case is an early line). */
const MAX_PEERS = 1000;

export class RefusalLog {
  private readonly peers = new Map<string, { lastMs: number; suppressed: number }>();
  private windowStartMs = -Infinity;
  private linesInWindow = 0;
  /** Held back by the overall cap (not counted per peer), reported with the next line. */
  private suppressedOverall = 0;

  constructor(
    private readonly limits: RefusalLogLimits,
    private readonly nowMs: () => number,
  ) {}

  /**
   * Whether a refusal of `peer` is logged now; when it is, how many refusals were held back
   * since the last line (of this peer, and overall), else null.
   */
  admit(peer: string): { peerSuppressed: number; otherSuppressed: number } | null {
    const now = this.nowMs();
    if (this.peers.size > MAX_PEERS) this.peers.clear();
    const seen = this.peers.get(peer);
    if (seen !== undefined && now - seen.lastMs < this.limits.perPeerMs) {
      seen.suppressed += 1;
      return null;
    }
    if (now - this.windowStartMs >= this.limits.perPeerMs) {
      this.windowStartMs = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= this.limits.perWindow) {
      this.suppressedOverall += 1;
      return null;
    }
    this.linesInWindow += 1;
    const out = { peerSuppressed: seen?.suppressed ?? 0, otherSuppressed: this.suppressedOverall };
    this.suppressedOverall = 0;
    this.peers.set(peer, { lastMs: now, suppressed: 0 });
    return out;
  }
}
