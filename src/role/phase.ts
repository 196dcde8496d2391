/**
 * The role machine's ground: the initial state, the one door through which every phase change goes
 * (`go`), and the small helpers every step uses.
 */
import { freshPeers, unheardMembers } from './dead-monitor.js';
import { poweredOffFields } from './actions.js';
import { TIMER } from './timers.js';
import type { Action, AddressName, MachineConfig, Phase, ProbeState, RoleState } from './types.js';

/**
 * A server halted by a failed persist tries again after this long, by re-entering boot (whose
 * first step persists): a full or read-only state dir that is fixed brings it back on its own.
 */
export const HALT_RETRY_US = 5_000_000;

/** A check result older than this (beyond its window) describes the past: check again. */
export const STALE_SLACK_US = 100_000;

export function initialState(seed: number): RoleState {
  return {
    phase: 'booting',
    role: 'primary',
    epoch: 0,
    linkUp: true,
    rng: seed >>> 0,
    probe: freshProbe(0),
    fence: idleFence(),
    healthFails: 0,
    maintenance: false,
    checkSeq: 0,
    fenceSeq: 0,
    fenceIds: {},
    poweredOff: [],
    poweredOffAt: null,
    bootId: '',
    peers: freshPeers(),
    lease: noLease(),
    deferSinceUs: null,
  };
}

export function noLease(): RoleState['lease'] {
  return { status: 'none', epoch: 0, claim: null };
}

export function freshProbe(nowUs: number): ProbeState {
  return {
    misses: 0,
    okProbes: 0,
    holder: null,
    strangerMac: null,
    repairs: 0,
    pinnedUs: null,
    lastReplyUs: null,
    uplink: 'unknown',
    sinceUs: nowUs,
  };
}

/**
 * How long a fresh monitor that has never seen a member hold the primary address waits
 * before fencing every other member (corosync's wait_for_all, in spirit): long enough for a
 * primary booting beside it to check and claim, and for a spare's check cycle.
 */
export function unknownHolderGraceUs(c: MachineConfig): number {
  return c.boot.jitterUs + 4 * c.boot.checkUs + c.spare.checkUs + c.spare.jitterUs;
}

export const MAC = /([0-9a-f]{2}:){5}[0-9a-f]{2}/i;

export function isProbing(phase: Phase): boolean {
  return phase === 'monitor' || phase === 'confirming';
}

export function backoff(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  const attempt = Math.max(1, s.fence.attempt);
  const delay = Math.min(c.fencing.retryUs * 2 ** (attempt - 1), c.fencing.retryMaxUs);
  out.push({ type: 'set-timer', timer: TIMER.fenceRetry, atUs: nowUs + delay });
  return { ...s, fence: { ...s.fence, status: 'backoff', attempt } };
}

/** The Prober's cadence begins at `atUs`. */
export function startProbing(atUs: number, out: Action[]): void {
  out.push({ type: 'probe-start', atUs });
}

export function stopProbing(out: Action[]): void {
  out.push({ type: 'probe-stop' });
}

/** Every timer, and the Prober. */
export function cancelAll(out: Action[]): void {
  for (const timer of Object.values(TIMER)) out.push({ type: 'cancel-timer', timer });
  out.push({ type: 'probe-stop' });
}

/**
 * The epoch of the next persisted role change: above this server's own and above every
 * epoch a member was heard with, so epochs order role changes across the cluster, and the
 * highest seen is on disk before any claim it orders.
 */
export function nextEpoch(s: RoleState): number {
  return Math.max(s.epoch, s.peers.highestEpoch) + 1;
}

/**
 * The one door through which the phase changes: every change is a `transition` action. A
 * `routine` one (a spare's periodic check of the monitor address and its return) is logged
 * by the executor at debug level and kept out of the history and the console.
 */
export function go(
  from: RoleState,
  to: Phase,
  reason: string,
  out: Action[],
  how: { routine?: boolean } = {},
): RoleState {
  // Rule: a takeover's lease claim given up (refused, the holder answered, maintenance)
  // saves the monitor role it returns to, at a new epoch, over the record the claim saved
  // before it asked (`claimPrimary`): in `confirming` only such a claim has role primary.
  // Reboots save their own record; a link that goes down boots from the claim's, as a
  // primary's does.
  const givenUp = from.phase === 'confirming' && to === 'monitor' && from.role === 'primary';
  const s: RoleState = givenUp ? { ...from, role: 'monitor', epoch: nextEpoch(from) } : from;
  // What the claim's record listed as powered off stays listed (a fence may still be running).
  if (givenUp)
    out.push({
      type: 'persist',
      role: 'monitor',
      epoch: s.epoch,
      reason: `${reason} (claim at epoch ${from.epoch} given up)`,
      ...poweredOffFields(from.poweredOff, from.poweredOffAt),
    });
  out.push(
    how.routine === true
      ? { type: 'transition', from: s.phase, to, role: s.role, epoch: s.epoch, reason, routine: true }
      : { type: 'transition', from: s.phase, to, role: s.role, epoch: s.epoch, reason },
  );
  // A lease (or a claim of one) ends with the phase that needed it: given back at once.
  const keepsLease = to === 'primary' || (s.lease.status === 'acquiring' && (to === 'confirming' || to === s.phase));
  if (s.lease.status !== 'none' && !keepsLease) {
    out.push({ type: 'lease-release' });
    return { ...s, phase: to, lease: noLease() };
  }
  return { ...s, phase: to };
}

/** Whether this phase holds a cluster address (the primary's, or the monitor's). */
function holdsAddress(phase: Phase): boolean {
  return phase === 'primary' || phase === 'monitor' || phase === 'confirming';
}

type PeerConfig = NonNullable<MachineConfig['peer']>;

/**
 * The scope of the boot claim rules below: fencing required, the peer heartbeat on, outside
 * the lease gate (whose majority is the proof instead). The peer settings there, else null.
 */
function bootClaimPeers(c: MachineConfig): PeerConfig | null {
  return c.fencing.required && c.lease === null ? c.peer : null;
}

/** The other members the heartbeat reaches on some path. */
function heartbeatMembers(c: MachineConfig, peer: PeerConfig): string[] {
  return Object.entries(peer.paths)
    .filter(([node, paths]) => node !== c.self && paths.length > 0)
    .map(([node]) => node);
}

/** Whether `node` was heard within `peer.freshUs` before `nowUs`. */
function heardLately(s: RoleState, peer: PeerConfig, node: string, nowUs: number): boolean {
  return nowUs - (s.peers.heardUs[node] ?? -Infinity) <= peer.freshUs;
}

/**
 * Rule (FIG. 1 with fencing required and the peer heartbeat on, outside the lease gate): a
 * persisted primary claims a silent primary address at boot only once every other member
 * has been heard, none saying it holds it, and heard lately (within `peer.freshUs`): a member
 * whose last word is older may have claimed since, behind a silent switch port, while its
 * other path was cut (the property test's isolated gate, seed 20261204, schedule 2321: a
 * claim 342 ms after the other holder was last heard, two holders when its port came back).
 * Null: nothing stands in the way of the claim; otherwise who is not heard (`silent` and
 * `pending` as in `unheardMembers`) and who is not heard lately (`stale`).
 */
export function silentClaimBlockers(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
): { silent: string[]; pending: string[]; stale: string[] } | null {
  const peer = bootClaimPeers(c);
  if (peer === null) return null;
  const unheard = unheardMembers(c, s.peers);
  const stale = heartbeatMembers(c, peer)
    .filter((node) => !unheard.silent.includes(node) && !unheard.pending.includes(node))
    .filter((node) => !heardLately(s, peer, node, nowUs))
    .sort();
  return unheard.silent.length === 0 && unheard.pending.length === 0 && stale.length === 0
    ? null
    : { ...unheard, stale };
}

/**
 * The phases from which a member whose persisted role is primary can claim the primary
 * address from silence within a check or two: its boot (a link that came back reboots it).
 */
const ON_WAY_TO_BOOT_CLAIM: ReadonlySet<Phase> = new Set<Phase>([
  'booting',
  'boot-wait',
  'checking-uplink',
  'checking-primary',
  'link-down',
]);

/**
 * Rule (same scope as `silentClaimBlockers`): of members booting together as primary, the one
 * of the higher name claims first; a boot defers its own check and claim while a member of a
 * higher name was heard lately (within `peer.freshUs`) on its way to a boot claim, for at
 * most `peer.deferUs` in one boot. Two claims from silence a check apart, each hidden from the
 * other by a different fault (one's switch port silent from just before its claim, the
 * other's management path cut), no longer both go through: the lower defers on the higher's
 * last word, and once that word is stale it waits (`silentClaimBlockers`) until the member is
 * heard or declared silent, and is fenced then (the property test's isolated gate, seed
 * 20261204, schedule 7143). The order is by name, as the epoch rule's tie-break, so it has no
 * cycle: the highest-named member never defers. Returns the members deferred to, sorted.
 */
export function claimsAhead(c: MachineConfig, s: RoleState, nowUs: number): string[] {
  const peer = bootClaimPeers(c);
  if (peer === null) return [];
  if (s.deferSinceUs !== null && nowUs - s.deferSinceUs >= peer.deferUs) return [];
  return heartbeatMembers(c, peer)
    .filter((node) => node > c.self && heardLately(s, peer, node, nowUs))
    .filter((node) => {
      const phase = s.peers.phases[node];
      return phase !== undefined && s.peers.roles[node] === 'primary' && ON_WAY_TO_BOOT_CLAIM.has(phase);
    })
    .sort();
}

/** Whether a member in `phase` holds `address` by its role (not merely not yet released). */
export function holdsByPhase(address: AddressName, phase: Phase): boolean {
  return address === 'primary' ? phase === 'primary' : phase === 'monitor' || phase === 'confirming';
}

/**
 * Rule: whenever a held address is given up for a reason other than a new role (link down,
 * halt, failed probing, a yield), run on_spare, so the service stops serving without it.
 */
export function onLost(s: RoleState, out: Action[]): void {
  if (holdsAddress(s.phase)) out.push({ type: 'hook', hook: 'on_spare' });
}

export function idleFence(): RoleState['fence'] {
  return { status: 'idle', targets: [], pending: [], fenced: [], attempt: 0 };
}
