import type { ConflictWatch } from '../../hal/nic/index.js';
import { splitByMembers, strangerArp, type AddressName } from '../role/index.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';

/** The watch's probes come this many times per check window (as the check's own). */
const PROBES_PER_WINDOW = 3;
/** How long after its window a silent check may still lead to an assignment the guard covers. */
const GAP_LIMIT_MS = 5000;

interface Guard {
  readonly watch: ConflictWatch;
  readonly heard: string[];
  ended: boolean;
  broken: string | null;
}

/**
 * Covers the gap between a boot check that heard silence and the address being assigned.
 * RFC 5227 probing hears another prober only while it probes; after a silent check the claim
 * still has to be persisted and assigned, and on a loaded machine that can take longer than
 * another server's whole check, which then hears nobody either, and both claim (seen in CI,
 * and in the lab under load: three servers booting together without the peer protocol, all
 * three holding the address for a few ms). So a boot check of an address it may claim also
 * starts a watch (`Nic.watchConflict`: probes every third of the window, each observation as
 * it arrives) that runs on past the check until the claim's assignment:
 * - our probes in the gap make another server's check hear a prober: contended, it backs off
 *   and checks again later, by when we hold the address;
 * - a member that used the address in the gap (an ARP reply or announcement: it claimed
 *   without hearing our probes) makes our assignment fail (`assign-failed`, a failed role
 *   change: release, reboot, check again, where we hear it holding the address).
 * Another member's probe in the gap does not stop our claim: that member hears ours and backs
 * off, and yielding to it as well would let two slow claimants back off from each other for
 * as long as their gaps last. ARP from strangers is logged and ignored, as in the checks. A
 * driver that cannot watch (no `hotspare-arp` helper) leaves the gap as it was.
 */
export class ClaimGuard {
  private readonly guards = new Map<AddressName, Guard>();

  constructor(private readonly x: ExecutorContext) {}

  /** Starts watching `address` for the check about to run. */
  start(name: AddressName, address: string, windowUs: number): void {
    this.end(name);
    const windowMs = windowUs / 1000;
    const heard: string[] = [];
    let watch: ConflictWatch | null = null;
    try {
      watch =
        this.x.ports.nic.watchConflict?.(
          address,
          Math.max(1, Math.floor(windowMs / PROBES_PER_WINDOW)),
          Math.ceil(windowMs + GAP_LIMIT_MS),
          (seen) => heard.push(seen),
        ) ?? null;
    } catch (error) {
      this.x.log('warn', 'claim-guard-failed', `cannot watch ${address} until a claim: ${message(error)}`);
    }
    if (watch === null) return;
    const guard: Guard = { watch, heard, ended: false, broken: null };
    this.guards.set(name, guard);
    watch.ended.then(
      () => {
        guard.ended = true;
      },
      (error: unknown) => {
        guard.ended = true;
        guard.broken = message(error);
      },
    );
  }

  /** The check's answer was stepped: keep the guard only when the step assigns the address. */
  settle(name: AddressName, assigns: boolean): void {
    if (!assigns) this.end(name);
  }

  /**
   * Before assigning `name`: null when nothing stands against the claim (no guard, or a guard
   * that heard no member); otherwise why not, for the failed assignment. Ends the guard and
   * waits for the watch's end, so what it heard up to now has been read.
   */
  async take(name: AddressName): Promise<string | null> {
    const guard = this.guards.get(name);
    if (guard === undefined) return null;
    const expired = guard.ended;
    this.end(name);
    await guard.watch.ended.catch(() => undefined);
    const { evidence, strangers } = splitByMembers(this.x.mc, guard.heard);
    const used = evidence.filter((x) => x.startsWith('arp-reply'));
    if (strangers.length > 0) {
      const alarm = strangerArp(name, strangers);
      this.x.log('error', 'stranger-arp', alarm.message, alarm.fields);
    }
    if (used.length > 0) return `another member used it after our check (${[...new Set(used)].join(', ')})`;
    if (guard.broken !== null) return `the watch that covers the claim broke (${guard.broken})`;
    if (expired) return `the claim came more than ${GAP_LIMIT_MS} ms after the check's window`;
    return null;
  }

  /**
   * Ends every guard: a new check asks a new question (a claim whose assignment was dropped,
   * by a failed persist say, leaves no guard behind for a later assignment), or the agent stops.
   */
  endAll(): void {
    for (const name of [...this.guards.keys()]) this.end(name);
  }

  private end(name: AddressName): void {
    const guard = this.guards.get(name);
    if (guard === undefined) return;
    this.guards.delete(name);
    guard.watch.end();
  }
}
