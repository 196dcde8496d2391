/**
 * The agent thread's view of twin lease threads (`lease.thread: twins`, README "Takeover
 * gates"): two lease services that renew one lease, each on a CPU of its own, as one lease.
 *
 * - A claim goes to twin 0 alone; twin 1 is asked `joinHeldMs` after the agent was told the
 *   lease is held (a renewal period: the address is assigned and announced by then), or
 *   when twin 0 has no grant after `joinAfterMs`. A claim is a burst of requests every
 *   millisecond from each asking twin and their answers; on a machine whose CPUs run the
 *   twins of every lab member, twice that burst kept the agent's thread (below the twins'
 *   priority) off both CPUs while it saved the claim's record and assigned the address. A
 *   renewal needs both twins; a claim whose twin is stopped is late, not lost.
 * - Held: when the first twin is granted the lease at the epoch the agent asked for.
 * - Lost: when the enforcer removed the address (either twin says so), or when a twin's
 *   lease ran out while the other does not hold it, or holds it by a deadline already past
 *   (its latest word: both ran out, the other one stopped before it could say so). A twin
 *   whose lease ran out while the other still holds it (its thread or its CPU was stopped)
 *   asks again at the same epoch, and the agent hears nothing: the enforcer keeps the later
 *   twin's deadline.
 * - Yield: once per epoch, unless the other twin holds the lease at that epoch; the other
 *   twin's claim is released too.
 * - After a release, whatever a twin still reports of that epoch is ignored.
 * - Twin 0 starts the enforcer: a grant to twin 1 before twin 0 is ready is told to the
 *   agent only once it is (the enforcer then runs with twin 1's deadline), so the address is
 *   never assigned on a lease no enforcer ends.
 */
import type { LogFields } from '../../log/index.js';
import type { LogLevel } from '../../role/types.js';
import type { LeaseCallbacks } from '../handle.js';
import type { ToLeaseWorker } from './messages.js';

export type TwinIndex = 0 | 1;

export interface TwinCombinerOutputs {
  callbacks(): LeaseCallbacks | null;
  /** The agent's monotonic clock, to judge a twin's latest lease end. */
  nowUs(): number;
  /** A twin's latest lease end (null: none). */
  untilUs(twin: TwinIndex): number | null;
  post(twin: TwinIndex, message: ToLeaseWorker): void;
  /** Runs `task` after `delayMs` on the agent's thread. */
  defer(task: () => void, delayMs: number): void;
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

export class TwinCombiner {
  /** The epoch each twin holds now (null: none). */
  private readonly heldEpoch: [number | null, number | null] = [null, null];
  /** The epoch the agent asked for (null: released, or never asked). */
  private acquired: number | null = null;
  /** The epoch the agent was told it holds (null: none, or told it was lost). */
  private reportedHeld: number | null = null;
  private reportedYield: number | null = null;
  /** Whether twin 0 (which starts the enforcer) is ready; until then, twin 1's grant waits. */
  private enforcerStarted = false;
  private heldBeforeStart: { epoch: number; detail: string } | null = null;

  /** The epoch whose loss the agent was told of last. */
  private lostEpoch: number | null = null;
  /** The claim twin 1 is still to be asked for (null: asked, or none). */
  private twin1Due: number | null = null;

  /**
   * `joinAfterMs`: how long a claim waits for twin 0's grant before twin 1 asks too;
   * `joinHeldMs`: how long after the grant twin 1 asks.
   */
  constructor(
    private readonly out: TwinCombinerOutputs,
    private readonly joinAfterMs: number,
    private readonly joinHeldMs: number,
  ) {}

  /** Twin 0 is ready: its enforcer was started. A grant to twin 1 that waited is told now. */
  started(): void {
    this.enforcerStarted = true;
    const waiting = this.heldBeforeStart;
    this.heldBeforeStart = null;
    if (waiting !== null) this.held(1, waiting.epoch, waiting.detail);
  }

  acquire(epoch: number): void {
    this.acquired = epoch;
    this.twin1Due = epoch;
    this.out.post(0, { type: 'acquire', epoch });
    this.out.defer(() => this.join(epoch), this.joinAfterMs);
  }

  /** Twin 1 asks for the claim at `epoch` too, unless it did or the claim ended. */
  private join(epoch: number): void {
    if (this.twin1Due !== epoch || this.acquired !== epoch) return;
    this.twin1Due = null;
    this.out.post(1, { type: 'acquire', epoch });
  }

  release(): void {
    this.acquired = null;
    this.twin1Due = null;
    this.heldBeforeStart = null;
    this.reportedHeld = null;
    this.heldEpoch[0] = null;
    this.heldEpoch[1] = null;
    this.both({ type: 'release' });
  }

  held(twin: TwinIndex, epoch: number, detail: string): void {
    if (this.acquired !== epoch) return;
    if (twin === 1 && !this.enforcerStarted) {
      this.heldBeforeStart = { epoch, detail };
      return;
    }
    this.heldEpoch[twin] = epoch;
    if (this.reportedHeld === epoch) {
      this.out.log(
        'info',
        'lease-twin-held',
        `lease twin ${twin} holds the lease at epoch ${epoch} as well: ${detail}`,
        {
          twin,
          epoch,
        },
      );
      return;
    }
    this.reportedHeld = epoch;
    this.out.callbacks()?.onHeld(epoch, `${detail} (twin ${twin})`);
    this.out.defer(() => this.join(epoch), this.joinHeldMs);
  }

  lost(twin: TwinIndex, epoch: number, detail: string, byEnforcer: boolean): void {
    if (twin === 1 && this.heldBeforeStart?.epoch === epoch) this.heldBeforeStart = null;
    if (this.heldEpoch[twin] === epoch) this.heldEpoch[twin] = null;
    const other = twin === 0 ? 1 : 0;
    const otherHolds = this.heldEpoch[other] === epoch && (this.out.untilUs(other) ?? 0) > this.out.nowUs();
    if (!byEnforcer && this.acquired === epoch && otherHolds) {
      this.out.log(
        'warn',
        'lease-twin-lost',
        `lease twin ${twin} lost the lease at epoch ${epoch} (${detail}); twin ${other} still holds it: twin ${twin} asks for it again`,
        { twin, epoch },
      );
      this.out.post(twin, { type: 'acquire', epoch });
      return;
    }
    if (this.reportedHeld !== epoch) {
      // The other twin's word on a loss already told: logged, so that the log has both
      // twins' reasons (a stop of both CPUs reads differently from one twin's stop).
      if (this.lostEpoch === epoch)
        this.out.log(
          'info',
          'lease-twin-lost-too',
          `lease twin ${twin} lost the lease at epoch ${epoch} too: ${detail}`,
          {
            twin,
            epoch,
          },
        );
      return;
    }
    this.reportedHeld = null;
    this.lostEpoch = epoch;
    this.twin1Due = null;
    this.heldEpoch[other] = null;
    this.out.callbacks()?.onLost(epoch, `${detail} (twin ${twin})`);
  }

  yielded(twin: TwinIndex, epoch: number, detail: string): void {
    const other = twin === 0 ? 1 : 0;
    if (this.acquired !== epoch || this.reportedYield === epoch) return;
    if (this.heldEpoch[other] === epoch) {
      this.out.log(
        'info',
        'lease-twin-yield',
        `lease twin ${twin} gave its claim at epoch ${epoch} up (${detail}); twin ${other} holds the lease at that epoch`,
        { twin, epoch },
      );
      return;
    }
    this.reportedYield = epoch;
    this.twin1Due = null;
    this.out.post(other, { type: 'release' });
    this.out.callbacks()?.onYield(epoch, `${detail} (twin ${twin})`);
  }

  private both(message: ToLeaseWorker): void {
    this.out.post(0, message);
    this.out.post(1, message);
  }
}
