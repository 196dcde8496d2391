/**
 * The lease service (README "Takeover gates", `lease`): answers other members' lease
 * requests as a voter, and asks for (and renews) this server's own lease when the role
 * machine claims the primary address. Decisions are the pure rules of ./rules.ts; this
 * carries them over the peer transport, keeps the send times, and arms the enforcer.
 */
import type { Cancel, Clock } from '../../hal/clock/index.js';
import type { LeaseEnforcer } from '../../hal/lease/index.js';
import type { PeerDatagram, PeerTransport } from '../../hal/peer/index.js';
import type { LogFields } from '../log/index.js';
import { msText } from '../log/ms-text.js';
import type { PeerMemberAddresses } from '../peer/heartbeat.js';
import type { PeerKey } from '../peer/key.js';
import { ReplayGuard } from '../peer/replay.js';
import type { LogLevel, PeerPath } from '../role/types.js';
import { decodeLeaseFrame, encodeLeaseFrame, isLeaseDatagram } from './frame.js';
import type { LeaseHandle, LeaseStatus } from './handle.js';
import type { LeaseFrame, LeaseKind } from './frame.js';
import { leaseAfterGrant, majority, promiseUs, released, vote } from './rules.js';
import type { HolderRound, LeaseTiming, Vote } from './rules.js';
import { LocalVoterCell } from './voter-cell.js';
import type { VoterCell } from './voter-cell.js';

export type { LeaseStatus } from './handle.js';

export interface LeaseServiceOptions {
  self: string;
  members: readonly PeerMemberAddresses[];
  port: number;
  key: PeerKey;
  transport: PeerTransport;
  clock: Clock;
  /** Random per boot of the process (the heartbeat's nonce may be shared: counters differ by magic). */
  nonce: Uint8Array;
  timing: LeaseTiming;
  renewUs: number;
  /** Drops the primary address when this server's lease runs out; null: none (tests). */
  enforcer: LeaseEnforcer | null;
  /** This server holds the primary address now (a voter that holds it grants nobody). */
  holdsPrimary: () => boolean;
  onHeld: (epoch: number, detail: string) => void;
  /** `byEnforcer`: the enforcer removed the address (else the lease ran out by this service's reckoning). */
  onLost: (epoch: number, detail: string, byEnforcer: boolean) => void;
  /** This server gave its claim (never held) up to a higher one. */
  onYield: (epoch: number, detail: string) => void;
  log: (level: LogLevel, event: string, message: string, fields?: LogFields) => void;
  /** Each answer this voter gave to another's request (the witness logs them). */
  onVote?: (from: string, epoch: number, vote: Vote) => void;
  /**
   * The lease's deadline or claim changed (a grant moved it, the lease ended, a claim began
   * or ended): a LeaseThread passes `leftUs` and `claiming` on to the agent's thread.
   */
  onChange?: () => void;
  /** The loop this service runs on, as its messages name it (default: "event loop"). */
  loopName?: string;
  /**
   * Twin lease threads (`lease.thread: twins`): the voter state and frame counter both
   * share (default: this service's own), the first sequence number of this twin's requests
   * (disjoint from its twin's), and where this twin asks `twinMembers`: on `askPort`, the
   * port of the twin of its own index (others, a witness, on `port`).
   */
  twin?: { cell: VoterCell; seqBase: number; askPort: number; twinMembers: readonly string[] };
}

/** One request round of this server's own lease, as sent. */
interface SentRound extends HolderRound {
  grants: Set<string>;
  /** How long after it was due this round went out: this server's event loop held it. */
  lateUs: number;
}

interface Holding {
  epoch: number;
  seq: number;
  rounds: Map<number, SentRound>;
  /** When the next round is due (null before the first). */
  dueUs: number | null;
  /** The first deadline given to the enforcer for this lease (null: none yet). */
  firstDeadlineUs: number | null;
  /** While claiming: the deadline the enforcer was armed with ahead of the grant (`armAhead`). */
  claimArmUs: number | null;
  untilUs: number | null;
  held: boolean;
  renew: Cancel | null;
  expiry: Cancel | null;
}

/** How often a claim not yet granted asks again (at most `renewUs`). */
const CLAIM_RETRY_US = 1000;

/** Rounds kept for late grants: a grant older than a lease is worth nothing anyway. */
const ROUNDS_KEPT = 64;

/** At most one `lease-request-late` warning this often (the count goes on in status). */
const LATE_WARN_EVERY_US = 1_000_000;

/** How often a member that stopped answering is still asked (until it answers again). */
const QUIET_ASK_EVERY_US = 100_000;

/** What this server's requests to one member got back lately. */
interface Asked {
  /** The first request since its last answer (null: it answered the last one). */
  unansweredSinceUs: number | null;
  lastSentUs: number;
  /** It is asked only every QUIET_ASK_EVERY_US (said once in the log). */
  quiet: boolean;
  /** It answered at least once since this service started (a member still starting is no news). */
  heard: boolean;
}

export class LeaseService implements LeaseHandle {
  /**
   * This server as a voter. Its highest epoch is the highest it granted, not the cluster's:
   * every member bumps its epoch at each role change it persists, which would outrun a
   * holder's lease epoch and refuse its renewals. A restarted voter forgets it and is quiet
   * for Q instead (README "Takeover gates").
   */
  private readonly voter: VoterCell;
  private holding: Holding | null = null;
  /** The latest deadline given to the enforcer (it outlives the lease it came from). */
  private lastUntilUs: number | null = null;
  /**
   * The deadline last given to the enforcer: null once it was disarmed or said it removed
   * the address at that deadline (it says nothing when there was nothing to remove).
   */
  private enforcerUs: number | null = null;
  /** The epoch of a lease given up while the address was still held: released once it is gone. */
  private unreleased: number | null = null;
  private readonly replay = new ReplayGuard();
  private readonly byAddress = new Map<string, string>();
  private readonly voters: number;
  private stopped = false;
  private readonly counts = { grantsSent: 0, refusalsSent: 0, dropped: 0, lateRequests: 0 };
  private worstLateUs: number | null = null;
  private lateWarnedUs: number | null = null;
  private lateUnwarned = 0;
  private readonly asked = new Map<string, Asked>();

  constructor(private readonly o: LeaseServiceOptions) {
    this.voter = o.twin?.cell ?? new LocalVoterCell({ startedUs: o.clock.nowUs(), highestEpoch: 0, promise: null });
    this.voters = o.members.length;
    for (const m of o.members) {
      if (m.name === o.self) continue;
      if (m.lan !== null) this.byAddress.set(`lan/${m.lan}`, m.name);
    }
    o.transport.onDatagram((d) => this.receive(d));
    o.enforcer?.onExpired((lateUs, deadlineUs) => this.enforced(lateUs, deadlineUs));
  }

  /** Gives the enforcer a deadline (whole microseconds, as hal/lease/linux.ts sends it). */
  private enforce(untilUs: number): void {
    if (this.o.enforcer === null) return;
    this.enforcerUs = Math.round(untilUs);
    this.o.enforcer.hold(untilUs);
  }

  private disarmEnforcer(): void {
    if (this.o.enforcer === null) return;
    this.enforcerUs = null;
    this.o.enforcer.disarm();
  }

  /**
   * The enforcer removed the primary address at a deadline it was given. A lease this server
   * still holds by its own reckoning is lost with it: a renewal granted just before that
   * deadline, whose later deadline had not reached the enforcer, leaves the agent renewing a
   * lease for an address that is gone, and the voters' promises to it would keep the monitor
   * from claiming until this server is powered off. A deadline of before this lease's first
   * (an earlier lease's, heard late) changes nothing.
   */
  private enforced(lateUs: number, deadlineUs: number | null): void {
    const h = this.holding;
    if (deadlineUs !== null && this.enforcerUs !== null && Math.abs(deadlineUs - this.enforcerUs) <= 1)
      this.enforcerUs = null;
    this.o.log(
      'error',
      'lease-enforced',
      `the enforcer removed the primary address ${(lateUs / 1000).toFixed(1)} ms after the lease ran out`,
      { lateUs, ...(deadlineUs === null ? {} : { deadlineUs }) },
    );
    if (h === null || !h.held) return;
    // The enforcer is told whole microseconds (hal/lease/linux.ts rounds): compare to 1 µs.
    if (deadlineUs !== null && (h.firstDeadlineUs === null || deadlineUs < h.firstDeadlineUs - 1)) return;
    // Judged against the deadline the enforcer kept, not this service's: a renewal that came
    // after that deadline may have moved this one past it (a stall of this thread or of the
    // voters' answers), and would hide the rounds that ran out.
    const nowUs = this.o.clock.nowUs();
    const why = this.whyLost(h, nowUs, deadlineUs ?? undefined);
    const lateGrant =
      deadlineUs !== null && h.untilUs !== null && h.untilUs > deadlineUs + 1
        ? '; a renewal came after that deadline'
        : '';
    this.cancelHolding();
    this.o.onLost(
      h.epoch,
      `the enforcer removed the primary address at the lease's deadline before a renewal reached it${why}${lateGrant}`,
      true,
    );
  }

  /** Asks for the lease at `epoch` now and every renewal period until `release`. */
  acquire(epoch: number): void {
    if (this.stopped) return;
    if (this.holding !== null && this.holding.epoch === epoch) return;
    this.cancelHolding();
    this.unreleased = null;
    this.holding = {
      epoch,
      seq: this.o.twin?.seqBase ?? 0,
      rounds: new Map(),
      dueUs: null,
      firstDeadlineUs: null,
      claimArmUs: null,
      untilUs: null,
      held: false,
      renew: null,
      expiry: null,
    };
    this.o.onChange?.();
    this.round();
  }

  /**
   * Gives the lease up: no more renewals. While the address is still in this server's
   * kernel nothing else changes (the enforcer stays armed, the voters keep their promises);
   * once it is gone (`addressGone`), the enforcer is disarmed and every voter hears a
   * release, so a claimant need not wait for the promises to run out.
   */
  release(): void {
    const h = this.holding;
    if (h === null) return;
    this.cancelHolding();
    this.unreleased = h.epoch;
    if (!this.o.holdsPrimary()) this.addressGone();
  }

  /** The primary address left this server's kernel: a lease given up is released now. */
  addressGone(): void {
    const epoch = this.unreleased;
    if (epoch === null || this.holding !== null) return;
    this.unreleased = null;
    this.disarmEnforcer();
    this.voter.update((s) => [released(s, this.o.self, epoch), undefined]);
    for (const m of this.o.members) if (m.name !== this.o.self) this.send(m, 'release', epoch, 0);
  }

  /** True while a claim or a lease of this server is running. */
  claiming(): boolean {
    return this.holding !== null;
  }

  /** Microseconds of lease left now (0: none, or it ran out). */
  leftUs(): number {
    const until = this.untilUs();
    return until === null ? 0 : Math.max(0, until - this.o.clock.nowUs());
  }

  /** When this server's lease ends (null: none held yet, or none running). */
  untilUs(): number | null {
    return this.holding?.untilUs ?? null;
  }

  /**
   * Tells the enforcer the current deadline again, after an assign: an assign that a stall
   * delayed past the deadline (which already fired, with nothing to remove) is removed at
   * once. The last deadline stays when the lease is gone.
   */
  reassert(): void {
    const until = this.holding?.untilUs ?? this.lastUntilUs;
    if (until !== null) this.enforce(until);
  }

  stop(): void {
    this.stopped = true;
    this.cancelHolding();
    this.o.enforcer?.close();
  }

  status(): LeaseStatus {
    const now = this.o.clock.nowUs();
    const v = this.voter.read();
    const p = v.promise;
    const h = this.holding;
    return {
      voter: {
        highestEpoch: v.highestEpoch,
        promisedTo: p !== null && now < p.untilUs ? p.to : null,
        promiseMsLeft: p !== null && now < p.untilUs ? Math.ceil((p.untilUs - now) / 1000) : null,
        quietMsLeft: Math.max(0, Math.ceil((v.startedUs + promiseUs(this.o.timing) - now) / 1000)),
      },
      holder:
        h === null
          ? null
          : {
              epoch: h.epoch,
              held: h.held,
              msLeft: h.untilUs === null ? null : Math.max(0, Math.ceil((h.untilUs - now) / 1000)),
            },
      ...this.counts,
      worstLateMs: this.worstLateUs === null ? null : this.worstLateUs / 1000,
    };
  }

  private round(): void {
    const h = this.holding;
    if (h === null || this.stopped) return;
    const nowUs = this.o.clock.nowUs();
    h.seq += 1;
    const lateUs = h.dueUs === null ? 0 : Math.max(0, nowUs - h.dueUs);
    const round: SentRound = { seq: h.seq, sentUs: nowUs, grants: new Set(), lateUs };
    h.rounds.set(h.seq, round);
    if (h.held) this.noteLate(h, lateUs, nowUs);
    if (h.rounds.size > ROUNDS_KEPT) h.rounds.delete(h.seq - ROUNDS_KEPT);
    // This server votes for itself by the same rule as for anyone: not while it promised
    // another member (the monitor granted the old primary moments ago).
    const own = this.voter.update((s) => {
      const v = vote(this.o.timing, s, this.o.self, h.epoch, nowUs, false);
      return [v.granted ? v.state : s, v.granted];
    });
    if (own) this.granted(h, round, this.o.self);
    for (const m of this.o.members)
      if (m.name !== this.o.self && this.ask(m.name, nowUs)) this.send(m, 'request', h.epoch, h.seq);
    if (!h.held) this.armAhead(h, nowUs);
    // A claim not yet granted asks again sooner than a holder renews: a voter refuses while
    // its promise to the old holder runs, and the first request after that promise ends is
    // granted, so the claim follows the promise's end by at most this period.
    const periodUs = h.held ? this.o.renewUs : Math.min(this.o.renewUs, CLAIM_RETRY_US);
    h.dueUs = nowUs + periodUs;
    h.renew = this.o.clock.at(h.dueUs, () => this.round());
  }

  /**
   * Whether a request of this round goes to `member`. One that answered nothing (no grant,
   * no refusal, no frame at all) for longer than a lease and a renewal period is asked only
   * every QUIET_ASK_EVERY_US until it answers again: a member that is down leaves its
   * neighbour entry unresolved, and the kernel keeps what is sent to it meanwhile (up to
   * `unres_qlen_bytes`, as much as a socket's whole send buffer) charged to the peer socket,
   * so requests every renewal period (every millisecond while claiming) to a dead member
   * would hold back the requests to the live ones until the lease is lost, and every claim
   * after it (seen in the lab with one of three members powered off). Its answers would
   * have come too late for the lease anyway.
   */
  private ask(member: string, nowUs: number): boolean {
    const a = this.asked.get(member) ?? { unansweredSinceUs: null, lastSentUs: -Infinity, quiet: false, heard: false };
    this.asked.set(member, a);
    const quietAfterUs = this.o.timing.durationUs + this.o.renewUs;
    if (a.unansweredSinceUs !== null && nowUs - a.unansweredSinceUs > quietAfterUs && !a.quiet) {
      a.quiet = true;
      this.o.log(
        a.heard ? 'warn' : 'info',
        'lease-voter-quiet',
        `${member} answered no lease request for ${msText(nowUs - a.unansweredSinceUs)} ms: asking it every ${msText(QUIET_ASK_EVERY_US)} ms until it answers (requests piling up for a member that is down would hold back those to the others)`,
        { member },
      );
    }
    if (a.quiet && nowUs - a.lastSentUs < QUIET_ASK_EVERY_US) return false;
    a.unansweredSinceUs ??= nowUs;
    a.lastSentUs = nowUs;
    return true;
  }

  /** An authenticated lease frame from `member`: it answers, and is asked every round again. */
  private heardFrom(member: string): void {
    const a = this.asked.get(member);
    if (a === undefined) return;
    a.unansweredSinceUs = null;
    a.heard = true;
    if (a.quiet) {
      a.quiet = false;
      this.o.log('info', 'lease-voter-back', `${member} answers lease requests again: asking it every round`, {
        member,
      });
    }
  }

  /**
   * A claim arms the enforcer before its grant, for the earliest deadline a grant of this
   * round or a later one can give (this round's send time plus L), so that the grant only
   * moves the deadline later. The first deadline after none wakes the enforcer's watcher
   * threads (one per CPU, at a priority above this thread's): paid while the request is on
   * the wire, not between the grant and the assignment. A claimant holds no primary
   * address (it assigns one only on the grant), so this deadline, if it comes first,
   * removes nothing, and a later round arms it again. Never while this server holds the
   * address, nor while an earlier deadline is still to come: moving that one later would
   * keep an address past the lease that deadline belongs to.
   */
  private armAhead(h: Holding, nowUs: number): void {
    // Not under twins: the enforcer keeps the later of the two twins' deadlines, so a deadline
    // armed ahead for a round never granted would outlast the lease the other twin was granted.
    if (this.o.enforcer === null || this.o.holdsPrimary() || this.o.twin !== undefined) return;
    if (this.enforcerUs !== null && nowUs <= this.enforcerUs) return;
    h.claimArmUs = Math.round(nowUs + this.o.timing.durationUs);
    this.enforce(h.claimArmUs);
  }

  /**
   * A held lease's request that went out more than a renewal period after it was due: this
   * server's event loop was held (a stall, a long pause), and a hold longer than L less a
   * period loses the lease with no fault anywhere else. Warned at most once a second.
   */
  private noteLate(h: Holding, lateUs: number, nowUs: number): void {
    if (lateUs <= this.o.renewUs) return;
    this.counts.lateRequests += 1;
    this.worstLateUs = Math.max(this.worstLateUs ?? 0, lateUs);
    if (this.lateWarnedUs !== null && nowUs - this.lateWarnedUs < LATE_WARN_EVERY_US) {
      this.lateUnwarned += 1;
      return;
    }
    const more = this.lateUnwarned > 0 ? ` (${this.lateUnwarned} more since the last warning)` : '';
    this.lateWarnedUs = nowUs;
    this.lateUnwarned = 0;
    this.o.log(
      'warn',
      'lease-request-late',
      `the lease request at epoch ${h.epoch} went out ${msText(lateUs)} ms late (due every ${msText(this.o.renewUs)} ms): this agent's ${this.loop()} was held; a hold of more than ${msText(this.o.timing.durationUs - this.o.renewUs)} ms loses the lease${more}`,
      { epoch: h.epoch, lateUs },
    );
  }

  private granted(h: Holding, round: SentRound, voter: string): void {
    if (round.grants.has(voter)) return;
    round.grants.add(voter);
    const until = leaseAfterGrant(this.o.timing, this.voters, round, h.untilUs);
    if (until === null || until === h.untilUs) return;
    const nowUs = this.o.clock.nowUs();
    if (until <= nowUs) return; // a grant that came back after its lease would have ended
    h.untilUs = until;
    h.firstDeadlineUs ??= until;
    this.lastUntilUs = until;
    this.o.onChange?.();
    this.enforce(until);
    h.claimArmUs = null;
    h.expiry?.();
    h.expiry = this.o.clock.at(until, () => this.expired(h));
    if (!h.held) {
      h.held = true;
      const by = [...round.grants].sort().join(', ');
      this.o.onHeld(
        h.epoch,
        `granted by ${by} (${round.grants.size} of ${this.voters}, ${majority(this.voters)} needed) for ${(until - nowUs) / 1000} ms`,
      );
    }
  }

  private expired(h: Holding): void {
    if (this.holding !== h || h.untilUs === null) return;
    if (this.o.clock.nowUs() < h.untilUs) return;
    const epoch = h.epoch;
    const held = h.held;
    const why = held ? this.whyLost(h, this.o.clock.nowUs()) : '';
    this.cancelHolding();
    if (held) this.o.onLost(epoch, `no majority renewed it within ${this.o.timing.durationUs / 1000} ms${why}`, false);
  }

  /**
   * What the rounds of the lease's last L say about its loss: this server's own requests
   * held back by its event loop (the lease ran out with no fault elsewhere), or requests
   * sent on time that no majority answered (voters down, the LAN, their own stalls).
   */
  private whyLost(h: Holding, nowUs: number, untilUs?: number): string {
    const until = untilUs ?? h.untilUs ?? nowUs;
    const recent = [...h.rounds.values()].filter((r) => r.sentUs > until - this.o.timing.durationUs);
    // The round due but not yet sent counts too: a loop held past the lease's end fires this
    // expiry before (or without) it.
    const pending = h.dueUs === null ? 0 : Math.max(0, nowUs - h.dueUs);
    const worst = Math.max(pending, ...recent.map((r) => r.lateUs));
    const noticed = nowUs - until > this.o.renewUs ? `, noticed ${msText(nowUs - until)} ms after its end` : '';
    if (worst > this.o.renewUs)
      return `: this agent's own requests were held up to ${msText(worst)} ms by its ${this.loop()}${noticed}`;
    return `: requests went out on time (${recent.length} in its last ${msText(this.o.timing.durationUs)} ms) and no majority answered them${noticed}`;
  }

  private loop(): string {
    return this.o.loopName ?? 'event loop';
  }

  private cancelHolding(): void {
    const h = this.holding;
    if (h === null) return;
    h.renew?.();
    h.expiry?.();
    this.holding = null;
    // A claim given up before its grant takes back the deadline it armed ahead.
    if (!h.held && h.claimArmUs !== null && this.enforcerUs === h.claimArmUs) this.disarmEnforcer();
    this.o.onChange?.();
  }

  private receive(d: PeerDatagram): void {
    if (this.stopped || !isLeaseDatagram(d.data)) return;
    const member = this.byAddress.get(`${d.path}/${d.from}`);
    if (member === undefined) return this.drop(d, `${d.from} is no member's ${d.path} address`);
    const decoded = decodeLeaseFrame(d.data, this.o.key);
    if (!decoded.ok) return this.drop(d, decoded.reason);
    const f = decoded.frame;
    if (f.from !== member || f.to !== this.o.self || f.path !== d.path)
      return this.drop(d, `claims to be ${f.from} for ${f.to} on ${f.path}`);
    const verdict = this.replay.admit(f);
    if (!verdict.ok) return this.drop(d, verdict.detail);
    this.heardFrom(member);
    switch (f.kind) {
      case 'request':
        return this.onRequest(f, member, d.receivedUs, d.fromPort);
      case 'grant':
        return this.onGrant(f);
      case 'refusal':
        return;
      case 'release':
        this.voter.update((s) => [released(s, f.from, f.epoch), undefined]);
        return;
    }
  }

  /** A request from `from`; answered to the port it came from (its twin's, under twins). */
  private onRequest(f: LeaseFrame, from: string, nowUs: number, fromPort: number): void {
    const m = this.o.members.find((x) => x.name === from);
    if (m === undefined) return;
    const h = this.holding;
    if (h !== null && !h.held && !this.o.holdsPrimary() && outranks(f.epoch, from, h.epoch, this.o.self)) {
      // Rule: two claims at once (a server booting as primary, the monitor taking over) would
      // refuse each other and both fail; the lower (epoch, node) gives its claim up and votes.
      // It never held this lease, so its vote for itself is dropped with the claim (one
      // thread; twins keep it, below).
      this.cancelHolding();
      // Under twins the promise to itself stays (it runs out within Q): the other twin may
      // hold the lease on it, granted before this one's claim heard of the higher claim.
      if (this.o.twin === undefined)
        this.voter.update((s) => [s.promise?.to === this.o.self ? { ...s, promise: null } : s, undefined]);
      this.o.onYield(h.epoch, `${from} claims the lease at epoch ${f.epoch}, above this server's claim at ${h.epoch}`);
    }
    // A voter that holds the address, or is claiming it, grants nobody.
    const claims = this.o.holdsPrimary() || this.holding !== null;
    const v = this.voter.update((s) => {
      const answer = vote(this.o.timing, s, from, f.epoch, nowUs, claims);
      return [answer.granted ? answer.state : s, answer];
    });
    if (v.granted) this.counts.grantsSent += 1;
    else this.counts.refusalsSent += 1;
    this.sendOn('lan', m, v.granted ? 'grant' : 'refusal', f.epoch, f.seq, fromPort);
    this.o.onVote?.(from, f.epoch, v);
  }

  private onGrant(f: LeaseFrame): void {
    const h = this.holding;
    if (h === null || f.epoch !== h.epoch) return;
    const round = h.rounds.get(f.seq);
    if (round === undefined) return;
    this.granted(h, round, f.from);
  }

  /**
   * Lease frames go on the service LAN only: the lease says the holder is reachable where
   * the address is served. A primary whose LAN port went silent while its management link
   * works must lose its lease, not keep renewing it over the management LAN.
   */
  private send(m: PeerMemberAddresses, kind: LeaseKind, epoch: number, seq: number): void {
    // Twins ask the twin of their own index (twin 1 the one on peer.port + 1): with every
    // member's twins pinned alike, a CPU stopped on one machine leaves a pair on the other
    // CPU, at half the frames of asking both.
    const t = this.o.twin;
    const port = t !== undefined && t.twinMembers.includes(m.name) ? t.askPort : this.o.port;
    this.sendOn('lan', m, kind, epoch, seq, port);
  }

  private sendOn(
    path: PeerPath,
    m: PeerMemberAddresses,
    kind: LeaseKind,
    epoch: number,
    seq: number,
    port: number,
  ): void {
    const self = this.o.members.find((x) => x.name === this.o.self);
    const address = m[path];
    if (address === null || self === undefined || self[path] === null) return;
    const frame: LeaseFrame = {
      path,
      kind,
      from: this.o.self,
      to: m.name,
      nonce: this.o.nonce,
      counter: this.voter.nextCounter(),
      epoch,
      seq,
    };
    this.o.transport.send(path, address, port, encodeLeaseFrame(frame, this.o.key));
  }

  private drop(d: PeerDatagram, reason: string): void {
    this.counts.dropped += 1;
    this.o.log('debug', 'lease-drop', `dropped a lease frame from ${d.from} on ${d.path}: ${reason}`, {
      from: d.from,
      path: d.path,
    });
  }
}

/** (epoch, node) of a claim is above another's: by epoch, then by name. */
function outranks(epoch: number, node: string, otherEpoch: number, other: string): boolean {
  return epoch > otherEpoch || (epoch === otherEpoch && node > other);
}
