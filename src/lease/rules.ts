/**
 * The lease rules (README "Takeover gates", `lease`): pure decisions of a voter and of a
 * holder, on each member's own monotonic clock. No absolute time crosses the wire: a
 * request carries a sequence number, and the holder keeps its send time.
 *
 * - A voter grants `from` at epoch `e` only when it is past its quiet period (a member that
 *   (re)started may have forgotten a promise), `e` is at least the highest epoch it knows,
 *   it does not hold or claim the address itself, and it has no live promise to another
 *   member. A grant promises to grant nobody else for Q = (L + d_drop)·(1+ρ).
 * - A holder's lease runs until the send time of the latest request a majority of voters
 *   (itself included) granted, plus L. Its enforcer drops the address at that instant.
 * - So a claimant's majority and the old holder's last majority share a voter, who granted
 *   the claimant only after its promise ran out: at least (L + d_drop)·(1+ρ) after it granted
 *   the old holder, by which time the old holder's address is gone even if its clock ran
 *   slow by ρ.
 */

export interface LeaseTiming {
  /** L: how long a granted request keeps the holder's lease, from the request's send time. */
  durationUs: number;
  /** ρ: bound on the relative rate of two members' clocks (>= 1e-3). */
  drift: number;
  /** d_drop: worst case from a lease's expiry to the kernel having dropped the address. */
  dropUs: number;
}

/**
 * Q = (L + d_drop)·(1+ρ): a voter's promise, and the quiet period after a start. The old
 * holder keeps the address for up to L + d_drop on its own clock after the send time of its
 * last granted request; a voter whose clock runs faster by ρ measures that as up to
 * (L + d_drop)·(1+ρ). (The first rule, L·(1+ρ) + d_drop, was shown unsafe by the model check
 * in test/model: README "Model check of the lease rules".)
 */
export function promiseUs(t: LeaseTiming): number {
  return Math.ceil((t.durationUs + t.dropUs) * (1 + t.drift));
}

/** Votes needed of `voters` (the requester included): a strict majority. */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export interface LeasePromise {
  to: string;
  epoch: number;
  untilUs: number;
}

export interface VoterState {
  /** When this member's agent started: it grants nothing before `startedUs + Q`. */
  startedUs: number;
  highestEpoch: number;
  promise: LeasePromise | null;
}

export type Vote = { granted: true; state: VoterState } | { granted: false; reason: string };

/**
 * One voter's answer to `from`'s request at `epoch`, received at `nowUs`. `selfClaims`: this
 * member holds the address or is claiming it (its own request is judged with false).
 */
export function vote(
  t: LeaseTiming,
  s: VoterState,
  from: string,
  epoch: number,
  nowUs: number,
  selfClaims: boolean,
): Vote {
  const q = promiseUs(t);
  if (nowUs < s.startedUs + q)
    return { granted: false, reason: `quiet for ${Math.ceil((s.startedUs + q - nowUs) / 1000)} ms more after start` };
  if (epoch < s.highestEpoch) return { granted: false, reason: `epoch ${epoch} is below ${s.highestEpoch}` };
  if (selfClaims) return { granted: false, reason: 'this member holds or claims the address' };
  const p = s.promise;
  if (p !== null && p.to !== from && nowUs < p.untilUs)
    return {
      granted: false,
      reason: `promised to ${p.to} (epoch ${p.epoch}) for ${Math.ceil((p.untilUs - nowUs) / 1000)} ms more`,
    };
  return {
    granted: true,
    state: { ...s, highestEpoch: Math.max(s.highestEpoch, epoch), promise: { to: from, epoch, untilUs: nowUs + q } },
  };
}

/** A release from `from` at `epoch` ends a promise to it at that epoch, and no other. */
export function released(s: VoterState, from: string, epoch: number): VoterState {
  const p = s.promise;
  if (p === null || p.to !== from || p.epoch !== epoch) return s;
  return { ...s, promise: null };
}

/** The epoch a member heard of (a heartbeat, a request): remembered, never lowered. */
export function heardEpoch(s: VoterState, epoch: number): VoterState {
  return epoch > s.highestEpoch ? { ...s, highestEpoch: epoch } : s;
}

export interface HolderRound {
  seq: number;
  sentUs: number;
  /** Voters (self included) that granted this request. */
  grants: ReadonlySet<string>;
}

/**
 * The lease a holder has after `round` gained `voter`'s grant: the round's send time plus L
 * once a majority granted it; never shortened by an older round.
 */
export function leaseAfterGrant(
  t: LeaseTiming,
  voters: number,
  round: HolderRound,
  currentUntilUs: number | null,
): number | null {
  if (round.grants.size < majority(voters)) return currentUntilUs;
  const until = round.sentUs + t.durationUs;
  return currentUntilUs === null ? until : Math.max(currentUntilUs, until);
}
