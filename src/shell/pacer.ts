/**
 * Paces shell commands: one may start at most every `spacingMs`, across every session that
 * shares the pacer. A command costs the agent's event loop a few milliseconds (status sorts
 * its RTT and jitter windows, log formats hundreds of lines); unpaced, a script feeding a
 * session as fast as the prompt returns would take a large share of the loop that also
 * sends the probes. People and scripts do not notice 50 ms; probe timing does.
 */
export class CommandPacer {
  private nextAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly spacingMs = 50,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** Reserves the next slot; resolves when it comes. Never rejects. */
  slot(): Promise<void> {
    const now = this.nowMs();
    const at = Math.max(now, this.nextAtMs);
    this.nextAtMs = at + this.spacingMs;
    const wait = at - now;
    // After the timer, one more turn (setImmediate): a probe deadline that expired in the
    // same timers phase has queued its work there already (see hal/clock/monotonic.ts), so the
    // probe goes out before the command runs instead of after it.
    return wait <= 0
      ? Promise.resolve()
      : new Promise((resolve) => setTimeout(() => setImmediate(resolve), Math.ceil(wait)));
  }
}
