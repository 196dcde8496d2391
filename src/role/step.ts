import type { PersistedRole } from '../../hal/store/index.js';
import { nextRandom } from '../../hal/base/random.js';
import { log, powerOn } from './actions.js';
import {
  freshPeers,
  heardPrimaryHolder,
  releasedPrimary,
  unheardMembers,
  onDeadMonitorCheck,
  onDeadMonitorFenced,
  onDeadMonitorTimer,
  onPeer,
  onPeerSilent,
} from './dead-monitor.js';
import { TIMER } from './timers.js';
import type { TimerName } from './timers.js';
import type {
  Action,
  AddressName,
  CheckTarget,
  Event,
  MachineConfig,
  OperatorCommand,
  Phase,
  ProbeState,
  RoleState,
  StepResult,
} from './types.js';

/**
 * A server halted by a failed persist tries again after this long, by re-entering boot (whose
 * first step persists): a full or read-only state dir that is fixed brings it back on its own.
 */
export const HALT_RETRY_US = 5_000_000;

/** A check result older than this (beyond its window) describes the past: check again. */
const STALE_SLACK_US = 100_000;

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
    poweredOff: [],
    peers: freshPeers(),
    lease: noLease(),
  };
}

function noLease(): RoleState['lease'] {
  return { status: 'none', epoch: 0, claim: null };
}

function freshProbe(nowUs: number): ProbeState {
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

/**
 * The role machine: `(state, event) -> (state, actions)`, with no timers or I/O inside.
 * Actions are carried out in order by the executor; `persist` always comes before the
 * address changes it justifies.
 */
export function step(config: MachineConfig, state: RoleState, event: Event): StepResult {
  // An operator command this server cannot carry out changes nothing; the executor reads
  // the refusal from the result (and the log says it too).
  const refused = event.type === 'command' ? refusal(state, event.command) : null;
  if (refused !== null) return { state, actions: [log('warn', 'command-refused', refused)], refused };
  const out: Action[] = [];
  let next = dispatch(config, state, event, out);
  // Number the checks asked for in this step; a result must name the latest one.
  let checkSeq = next.checkSeq;
  const actions = out.map((a) => (a.type === 'check' ? { ...a, id: ++checkSeq } : a));
  if (checkSeq !== next.checkSeq) next = { ...next, checkSeq };
  return { state: next, actions };
}

function dispatch(c: MachineConfig, s: RoleState, e: Event, out: Action[]): RoleState {
  switch (e.type) {
    case 'boot':
      return onBoot(c, s, e, out);
    case 'link':
      return onLink(s, e, out);
    case 'persist-failed':
      return onPersistFailed(c, s, e.detail, e.nowUs, out);
    case 'assign-failed':
      return onAssignFailed(c, s, e, out);
    case 'command':
      return onCommand(c, s, e.command, e.nowUs, out);
    case 'timer':
      return onTimer(c, s, e.timer, e.nowUs, out);
    case 'check-result':
      return onCheckResult(c, s, e, out);
    case 'probe-batch':
      return onProbeBatch(c, s, e, out);
    case 'probe-failed':
      return onProbeFailed(s, e.detail, out);
    case 'holder':
      return onHolder(c, s, e.mac, e.nowUs, out);
    case 'fence-result':
      return onFenceResult(c, s, e, out);
    case 'health-result':
      return onHealthResult(c, s, e, out);
    case 'peer':
      return onPeerHolds(c, onPeer(c, s, e, out), e, out);
    case 'peer-silent':
      return onPeerSilent(c, s, e, out);
    case 'lease':
      return onLease(c, s, e, out);
  }
}

// ---------------------------------------------------------------- boot (FIG. 1, FIG. 2)

function onBoot(c: MachineConfig, s: RoleState, e: Extract<Event, { type: 'boot' }>, out: Action[]): RoleState {
  // Rule: only a fresh machine boots; a second boot event is a bug upstream, ignore it.
  if (s.phase !== 'booting') return s;
  const role: PersistedRole = e.record?.role ?? 'primary';
  const epoch = e.record?.epoch ?? 0;
  // Rule: a fenced server is powered on again even if its fencer restarted in between.
  powerOn(e.record?.poweredOff ?? [], 'powered off by this server before it restarted', out);
  const base: RoleState = { ...s, role, epoch, linkUp: e.linkUp };
  if (!e.linkUp) {
    // Rule: a server whose own link is down can observe nothing; wait for the link.
    return go(base, 'link-down', 'link is down at boot', out);
  }
  // Rule: wait a random part of the boot jitter so servers booted together do not
  // check and claim in lockstep.
  const { value, seed } = nextRandom(s.rng);
  out.push({ type: 'set-timer', timer: TIMER.bootDelay, atUs: e.nowUs + Math.floor(value * c.boot.jitterUs) });
  return go({ ...base, rng: seed }, 'boot-wait', `booting with persisted role ${role} (epoch ${epoch})`, out);
}

function onBootDelay(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  if (c.uplink && s.role !== 'spare') {
    // Rule: a server behind a silent switch port hears nobody, so its own checks would find
    // every address free. Claim nothing before the uplink host has been heard.
    out.push({ type: 'check', id: 0, address: 'uplink', windowUs: c.boot.checkUs });
    return go(s, 'checking-uplink', 'checking that the uplink host answers before any claim', out);
  }
  return checkOwnAddress(c, s, nowUs, out);
}

/** FIG. 1 step 6 / FIG. 2 step 20: the conflict check of the persisted role's address. */
function checkOwnAddress(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  switch (s.role) {
    case 'primary':
      // FIG. 1 step 6: before claiming, make sure nobody answers on the primary address.
      out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.boot.checkUs });
      return go(s, 'checking-primary', 'checking that the primary address is free', out);
    case 'monitor':
      // FIG. 2 step 20: the same check for the monitor address.
      out.push({ type: 'check', id: 0, address: 'monitor', windowUs: c.boot.checkUs });
      return go(s, 'checking-monitor', 'checking that the monitor address is free', out);
    case 'spare':
      return enterSpare(c, s, nowUs, 'persisted role is spare', out);
  }
}

function onCheckResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): RoleState {
  // Rule: only the answer to the latest check counts; an older one (a defence check still
  // in flight across a reboot, say) describes a question nobody is asking any more.
  if (e.id !== s.checkSeq) return s;
  // The uplink host is no member by design; only the cluster addresses are members' business.
  const filtered = e.address === 'uplink' ? e : withoutStrangers(c, e, out);
  if (filtered !== e) return onCheckResult(c, s, filtered, out);
  const bootCheck = s.phase === 'checking-primary' || s.phase === 'rechecking-primary';
  const heard = bootCheck && e.address === 'primary' && !e.taken ? heardPrimaryHolder(c, s.peers) : null;
  if (heard !== null) {
    // Rule: at boot, a member that says (authenticated, on some path) it holds the primary
    // address holds it, whatever a check on the LAN heard: its switch port may be silent.
    // (Not in [0013]: there the holder was just fenced, and its last heartbeats are stale.)
    return onCheckResult(c, s, { ...e, taken: true, evidence: [...e.evidence, `peer ${heard} holds it`] }, out);
  }
  const seen = e.evidence.join(', ');
  if (e.address === 'uplink') return onUplinkResult(c, s, e, seen, out);
  if (s.phase === 'primary' && e.address === 'monitor') return onDeadMonitorCheck(c, s, e, out);
  if ((s.phase === 'primary' && e.address === 'primary') || (s.phase === 'monitor' && e.address === 'monitor'))
    return onDefendResult(c, s, e, out);
  if (e.taken && e.contended === true) return onContended(c, s, e.nowUs, e.address, seen, out);
  // Rule: a "silent" answer that reaches us long after its window (we were frozen, the
  // host was overloaded) says nothing about now; treat it like a contended check.
  const windowUs = s.phase === 'confirming' ? c.fencing.confirmUs : c.boot.checkUs;
  if (!e.taken && e.nowUs - e.startedUs > 2 * windowUs + STALE_SLACK_US) {
    return onContended(
      c,
      s,
      e.nowUs,
      e.address,
      `stale result, ${Math.round((e.nowUs - e.startedUs) / 1000)} ms old`,
      out,
    );
  }
  if (s.phase === 'checking-primary' && e.address === 'primary') {
    if (!e.taken) {
      const unheard = silentClaimBlockers(c, s);
      if (unheard === null) return claimPrimary(c, s, e.nowUs, 'primary address silent at boot', out, []);
      if (unheard.silent.length === 0) {
        // The heartbeat has not heard every member yet (a cluster booting together): wait
        // for each to be heard or declared silent, checking again as after a contended check.
        const { value, seed } = nextRandom(s.rng);
        out.push({
          type: 'set-timer',
          timer: TIMER.bootDelay,
          atUs: e.nowUs + c.boot.checkUs + Math.floor(value * Math.max(c.boot.jitterUs, 2 * c.boot.checkUs)),
        });
        return go(
          { ...s, rng: seed },
          'boot-wait',
          `primary address silent, ${unheard.pending.join(', ')} not heard yet; checking again before any claim`,
          out,
        );
      }
      // Rule: with fencing required, silence proves nothing about a member that sends no
      // heartbeat (frozen with the address, or behind a silent port): only a monitor claims
      // then, after fencing whoever could hold it (the fault campaign's thawed holders).
      out.push(
        log(
          'warn',
          'no-unfenced-claim',
          `primary address silent at boot, but ${unheard.silent.join(', ')} sent no heartbeat on any path and could hold it: leaving the claim to the monitor, which fences first`,
          { unheard: unheard.silent.join(', ') },
        ),
      );
      return persistAndReboot(
        s,
        'monitor',
        `primary address silent, ${unheard.silent.join(', ')} not heard (fencing required)`,
        out,
      );
    }
    // FIG. 1 steps 12-14: someone holds the primary address: become the monitor and reboot.
    return persistAndReboot(s, 'monitor', `primary address answered at boot (${seen})`, out);
  }
  if (s.phase === 'checking-monitor' && e.address === 'monitor') {
    if (!e.taken) return becomeMonitor(c, s, e.nowUs, 'monitor address silent at boot', out);
    // A monitor exists. The patent would reboot as primary; first look whether the primary
    // is taken too, so a server that finds both taken waits as a spare instead of looping.
    out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.boot.checkUs });
    return go(s, 'rechecking-primary', `monitor address answered at boot (${seen}); checking the primary address`, out);
  }
  if (s.phase === 'rechecking-primary' && e.address === 'primary') {
    // FIG. 2 steps 24-26: the monitor exists and the primary address is free: boot as primary.
    if (!e.taken && c.fencing.required) {
      // Rule: silence proves nothing about a server whose switch port went quiet with its
      // link up. With fencing required, only the monitor takes the primary address over,
      // after fencing whoever could hold it; this server waits as a spare.
      out.push(
        log(
          'warn',
          'no-unfenced-claim',
          'monitor address taken, primary address silent: leaving it to the monitor, which fences before it claims',
        ),
      );
      return enterSpare(c, s, e.nowUs, 'monitor address taken, primary address silent (fencing required)', out, {
        persist: true,
      });
    }
    if (!e.taken) return persistAndReboot(s, 'primary', 'monitor address taken, primary address silent', out);
    return enterSpare(c, s, e.nowUs, `both addresses answered (${seen})`, out, { persist: true });
  }
  if (s.phase === 'spare-checking' && e.address === 'monitor') {
    if (e.taken) return enterSpare(c, s, e.nowUs, 'monitor address still taken', out, { recheck: true });
    // The monitor address freed up: boot as monitor, which checks it once more before claiming.
    return persistAndReboot(s, 'monitor', 'monitor address is free', out);
  }
  if (s.phase === 'confirming' && e.address === 'primary') {
    // Under the lease gate a claim already asked for its lease: the lease decides, not a
    // later look at the address (the old holder may answer until its enforcer drops it).
    if (c.lease !== null && s.lease.status === 'acquiring') return s;
    if (!e.taken) return takeOver(c, s, e.nowUs, out);
    // [0013]: something answers on the primary address after fencing: do not claim it.
    out.push(log('warn', 'takeover-aborted', `primary address answered after fencing (${seen}); staying monitor`));
    // The fenced servers are not the ones answering: give them their power back.
    if (c.fencing.powerCycle === 'off-on') powerOn(s.fence.fenced, 'the takeover was aborted', out);
    const back = go(s, 'monitor', 'primary address answered during confirmation', out);
    return { ...back, probe: { ...back.probe, misses: 0 }, fence: idleFence() };
  }
  // A result for a phase we already left (link went down, reboot): stale, ignore.
  return s;
}

/** The uplink host answered (`taken`) or not: at boot before a claim, on a monitor before a fence. */
function onUplinkResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'check-result' }>,
  seen: string,
  out: Action[],
): RoleState {
  const heard = e.taken && e.contended !== true;
  if (s.phase === 'checking-uplink') {
    if (heard) return checkOwnAddress(c, s, e.nowUs, out);
    out.push(log('error', 'uplink-silent', 'the uplink host does not answer: claiming nothing, checking again later'));
    return onContended(c, s, e.nowUs, 'uplink', seen === '' ? 'uplink silent' : seen, out);
  }
  if (s.phase !== 'monitor') return s;
  const probe: ProbeState = { ...s.probe, uplink: heard ? 'heard' : 'silent' };
  // The primary answered again meanwhile: the answer is for a run of misses that ended.
  if (s.probe.uplink !== 'pending' && s.fence.status !== 'uplink') return s;
  return s.fence.status === 'uplink' ? fenceIfUplinkHeard(c, { ...s, probe }, e.nowUs, out) : { ...s, probe };
}

/**
 * Another server probed for the same address at the same time and nobody holds it
 * (RFC 5227 simultaneous probe). Neither may claim; both wait a random time and check
 * again, so one of them goes first.
 */
function onContended(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  address: CheckTarget,
  seen: string,
  out: Action[],
): RoleState {
  const { value, seed } = nextRandom(s.rng);
  const delay = c.boot.checkUs + Math.floor(value * Math.max(c.boot.jitterUs, 2 * c.boot.checkUs));
  const next = { ...s, rng: seed };
  switch (s.phase) {
    case 'checking-uplink':
    case 'checking-primary':
    case 'checking-monitor':
    case 'rechecking-primary':
      out.push({ type: 'set-timer', timer: TIMER.bootDelay, atUs: nowUs + delay });
      return go(next, 'boot-wait', `${address} address contended (${seen}); backing off`, out);
    case 'spare-checking':
      return enterSpare(c, next, nowUs, 'monitor address contended', out, { recheck: true });
    case 'confirming':
      out.push({ type: 'set-timer', timer: TIMER.confirmRetry, atUs: nowUs + delay });
      out.push(
        log('warn', 'confirm-contended', `primary address contended during confirmation (${seen}); checking again`),
      );
      return next;
    default:
      return s;
  }
}

const MAC = /([0-9a-f]{2}:){5}[0-9a-f]{2}/i;

/**
 * Only members count: ARP evidence from a MAC that is no member's (a misconfigured host, a
 * forger) is logged as an alarm and dropped, so it never makes a server yield, back off or
 * take another role. Evidence without a MAC (an ICMP reply) cannot be attributed and stays.
 * Returns `e` itself when nothing was dropped.
 */
function withoutStrangers(
  c: MachineConfig,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): Extract<Event, { type: 'check-result' }> {
  const members = new Set(c.members.map((m) => m.mac.toLowerCase()));
  const strangers: string[] = [];
  const evidence = e.evidence.filter((x) => {
    const mac = x.startsWith('arp-') ? MAC.exec(x)?.[0]?.toLowerCase() : undefined;
    if (mac === undefined || members.has(mac)) return true;
    strangers.push(x);
    return false;
  });
  if (strangers.length === 0) return e;
  out.push(
    log('error', 'stranger-arp', `ARP for the ${e.address} address from no member (${strangers.join(', ')}): ignored`, {
      address: e.address,
      evidence: strangers.join(', '),
    }),
  );
  const taken = e.taken && evidence.length > 0;
  const contended = taken && evidence.every((x) => x.startsWith('arp-probe'));
  const { contended: _dropped, ...rest } = e;
  return contended ? { ...rest, evidence, taken, contended } : { ...rest, evidence, taken };
}

function onDefendResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): RoleState {
  if (!e.taken || e.contended === true || e.address === 'uplink') return s;
  const own = c.selfMac.toLowerCase();
  const others = e.evidence
    .filter((x) => x.startsWith('arp-reply'))
    .map((x) => MAC.exec(x)?.[0]?.toLowerCase())
    .filter((m): m is string => m !== undefined && m !== own);
  if (others.length === 0) return s;
  const lower = others.filter((m) => m < own);
  // Rule (lease gate): the lease holder keeps the primary address whatever the MACs say; the
  // other holder has no lease, and its enforcer is dropping the address.
  const leased = e.address === 'primary' && c.lease !== null && s.lease.status === 'held';
  if (lower.length === 0 || leased) {
    out.push(
      log(
        'warn',
        'address-conflict',
        leased
          ? `${others.join(', ')} also holds the primary address; this server holds the lease: keeping it`
          : `${others.join(', ')} also holds the ${e.address} address; it has the higher MAC and must yield`,
      ),
    );
    if (leased) out.push({ type: 'announce', address: 'primary' });
    return s;
  }
  const address = e.address;
  out.push(
    log(
      'error',
      'address-conflict',
      `${lower.join(', ')} also holds the ${address} address and has the lower MAC: yielding`,
    ),
  );
  cancelAll(out);
  out.push({ type: 'release', address });
  onLost(s, out);
  // A yielding primary becomes the monitor candidate (FIG. 1 steps 12-14); a yielding
  // monitor re-enters boot as monitor, finds the address taken and waits as a spare.
  return persistAndReboot(
    s,
    'monitor',
    `${address} address also held by ${lower.join(', ')} (lower MAC keeps it)`,
    out,
  );
}

/**
 * Rule: two members holding the same cluster address learn it from each other's
 * authenticated heartbeats (a silent switch port came back, say). The higher (epoch, node)
 * keeps it and re-announces; the other yields at once. Unlike the ARP defence this needs no
 * guess from MACs and cannot be forged by a stranger.
 */
function onPeerHolds(c: MachineConfig, s: RoleState, e: Extract<Event, { type: 'peer' }>, out: Action[]): RoleState {
  const address: AddressName | null =
    s.phase === 'primary' && e.holdsPrimary ? 'primary' : s.phase === 'monitor' && e.holdsMonitor ? 'monitor' : null;
  if (address === null || s.maintenance || e.node === c.self) return s;
  if (!holdsByPhase(address, e.phase)) {
    // Rule: a member whose phase no longer holds the address is giving it up (it yielded, its
    // link went down, it halted): its executor has not released it yet, and its epoch is
    // already the next role's. Yielding to that epoch would leave nobody holding the address
    // (the fault campaign's double yields); keep it and re-announce.
    out.push(
      log(
        'info',
        'address-conflict',
        `${e.node} still holds the ${address} address in phase ${e.phase} (giving it up): keeping it`,
        { peer: e.node, peerEpoch: e.epoch, epoch: s.epoch, address },
      ),
    );
    out.push({ type: 'announce', address });
    return s;
  }
  // Rule (lease gate): a primary holding a lease keeps the address whatever the other says:
  // leases are exclusive, so the other's lease ran out and its enforcer is dropping it.
  const leased = address === 'primary' && c.lease !== null && s.lease.status === 'held';
  const theyWin = !leased && (e.epoch > s.epoch || (e.epoch === s.epoch && e.node > c.self));
  const fields = { peer: e.node, peerEpoch: e.epoch, epoch: s.epoch, address };
  if (!theyWin) {
    out.push(
      log(
        'warn',
        'address-conflict',
        leased
          ? `${e.node} says it holds the ${address} address at epoch ${e.epoch}; this server holds the lease: keeping it`
          : `${e.node} also holds the ${address} address at epoch ${e.epoch}; ours (${s.epoch}) is higher: keeping it`,
        fields,
      ),
    );
    out.push({ type: 'announce', address });
    return s;
  }
  out.push(
    log(
      'error',
      'address-conflict',
      `${e.node} also holds the ${address} address at a higher epoch (${e.epoch} over our ${s.epoch}): yielding`,
      fields,
    ),
  );
  cancelAll(out);
  out.push({ type: 'release', address });
  onLost(s, out);
  return persistAndReboot(
    s,
    'monitor',
    `${address} address also held by ${e.node} at epoch ${e.epoch} (the higher epoch keeps it)`,
    out,
  );
}

// ---------------------------------------------------------------- operating roles

function becomePrimary(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  reason: string,
  out: Action[],
  after: readonly Action[],
): RoleState {
  // Under the lease gate the claim's epoch is the one the majority granted.
  const epoch = s.lease.status === 'held' ? s.lease.epoch : nextEpoch(s);
  out.push(
    s.poweredOff.length > 0
      ? { type: 'persist', role: 'primary', epoch, reason, poweredOff: s.poweredOff }
      : { type: 'persist', role: 'primary', epoch, reason },
  );
  out.push({ type: 'assign', address: 'primary' });
  out.push({ type: 'announce', address: 'primary' });
  out.push(...after);
  out.push({ type: 'hook', hook: 'on_primary' });
  if (c.health !== null) out.push({ type: 'set-timer', timer: TIMER.health, atUs: nowUs + c.health.intervalUs });
  if (c.announceRefreshUs > 0)
    out.push({ type: 'set-timer', timer: TIMER.announce, atUs: nowUs + c.announceRefreshUs });
  if (c.defendUs > 0) out.push({ type: 'set-timer', timer: TIMER.defend, atUs: nowUs + c.defendUs });
  return go(
    { ...s, role: 'primary', epoch, healthFails: 0, fence: idleFence(), probe: freshProbe(nowUs) },
    'primary',
    reason,
    out,
  );
}

function becomeMonitor(c: MachineConfig, s: RoleState, nowUs: number, reason: string, out: Action[]): RoleState {
  const epoch = nextEpoch(s);
  out.push({ type: 'persist', role: 'monitor', epoch, reason });
  out.push({ type: 'assign', address: 'monitor' });
  out.push({ type: 'announce', address: 'monitor' });
  out.push({ type: 'hook', hook: 'on_monitor' });
  // The first probe goes out at once; the rest follow on absolute deadlines.
  startProbing(nowUs, out);
  if (c.defendUs > 0) out.push({ type: 'set-timer', timer: TIMER.defend, atUs: nowUs + c.defendUs });
  return go({ ...s, role: 'monitor', epoch, fence: idleFence(), probe: freshProbe(nowUs) }, 'monitor', reason, out);
}

/**
 * How a server enters (or returns to) the spare phase:
 * - `persist`: the role record says spare from now on (a new epoch), unless it already does;
 * - `recheck`: back from its own periodic check of the monitor address (or from
 *   maintenance): no on_spare hook, and the transition is routine (see `go`).
 */
interface SpareEntry {
  persist?: boolean;
  recheck?: boolean;
}

function enterSpare(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  reason: string,
  out: Action[],
  how: SpareEntry = {},
): RoleState {
  let next = s;
  if (how.persist === true && s.role !== 'spare') {
    next = { ...s, role: 'spare', epoch: nextEpoch(s) };
    out.push({ type: 'persist', role: 'spare', epoch: next.epoch, reason });
  }
  if (how.recheck !== true) out.push({ type: 'hook', hook: 'on_spare' });
  // Rule: re-check on a period with jitter, so spares racing for a freed monitor
  // address rarely check at the same instant (and the conflict check settles the rest).
  const { value, seed } = nextRandom(next.rng);
  out.push({
    type: 'set-timer',
    timer: TIMER.spareCheck,
    atUs: nowUs + c.spare.checkUs + Math.floor(value * c.spare.jitterUs),
  });
  next = { ...next, rng: seed };
  if (how.recheck !== true) return go(next, 'spare', reason, out);
  return next.phase === 'spare' ? next : go(next, 'spare', reason, out, { routine: true });
}

function persistAndReboot(s: RoleState, role: PersistedRole, reason: string, out: Action[]): RoleState {
  const epoch = nextEpoch(s);
  out.push({ type: 'persist', role, epoch, reason });
  out.push({ type: 'reboot', reason });
  return go({ ...s, role, epoch }, 'booting', `${reason}: persisted role ${role}, rebooting`, out);
}

// ---------------------------------------------------------------- timers

function onTimer(c: MachineConfig, s: RoleState, timer: TimerName, nowUs: number, out: Action[]): RoleState {
  if (timer === TIMER.bootDelay) return s.phase === 'boot-wait' ? onBootDelay(c, s, nowUs, out) : s;
  if (timer === TIMER.haltRetry) {
    if (s.phase !== 'halted') return s;
    // Rule: a halted server holds nothing, so booting again risks nothing; boot persists
    // first, and a store that still fails halts it again.
    out.push({ type: 'reboot', reason: 'retrying after a failed persist' });
    return go(s, 'booting', 'retrying after a failed persist', out);
  }
  if (s.maintenance && timer !== TIMER.announce) return s;
  if (timer === TIMER.fenceRetry)
    return s.phase === 'monitor' && s.fence.status === 'backoff' ? onFenceRetry(c, s, nowUs, out) : s;
  if (timer === TIMER.deadMonitor) return onDeadMonitorTimer(c, s, nowUs, out);
  if (timer === TIMER.leaseTimeout) return onLeaseTimeout(c, s, nowUs, out);
  if (timer === TIMER.defend) {
    if (s.phase !== 'primary' && s.phase !== 'monitor') return s;
    // Rule: keep checking that nobody else holds our address (a race on a real LAN, a
    // server that was frozen): the holder with the lower MAC keeps it.
    out.push({ type: 'check', id: 0, address: s.phase, windowUs: c.boot.checkUs });
    out.push({ type: 'set-timer', timer: TIMER.defend, atUs: nowUs + c.defendUs });
    // Only the latest check's answer counts: an uplink check in flight is superseded.
    return s.probe.uplink === 'pending' ? { ...s, probe: { ...s.probe, uplink: 'unknown' } } : s;
  }
  if (timer === TIMER.confirmRetry) {
    if (s.phase !== 'confirming') return s;
    out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.fencing.confirmUs });
    return s;
  }
  if (timer === TIMER.spareCheck) {
    if (s.phase !== 'spare') return s;
    out.push({ type: 'check', id: 0, address: 'monitor', windowUs: c.boot.checkUs });
    return go(s, 'spare-checking', 'checking whether the monitor address is free', out, { routine: true });
  }
  if (timer === TIMER.health) {
    if (s.phase !== 'primary' || c.health === null) return s;
    out.push({ type: 'health-check' });
    return s;
  }
  if (timer === TIMER.announce) {
    if (s.phase !== 'primary') return s;
    // Rule: re-announce while primary, so ARP caches that missed the first burst converge.
    out.push({ type: 'announce', address: 'primary' });
    out.push({ type: 'set-timer', timer: TIMER.announce, atUs: nowUs + c.announceRefreshUs });
    return s;
  }
  return s;
}

function isProbing(phase: Phase): boolean {
  return phase === 'monitor' || phase === 'confirming';
}

// ---------------------------------------------------------------- monitor: probing

function onProbeBatch(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'probe-batch' }>,
  out: Action[],
): RoleState {
  // Rule: batches count only while probing and not in maintenance (the Prober was asked to
  // stop; a batch it queued before that is stale). Only answers to probes still outstanding
  // are counted: late, duplicate and foreign replies prove nothing about the present.
  if (!isProbing(s.phase) || s.maintenance) return s;
  let next = s;
  // The Prober counted these answers before the miss, if any: apply them first.
  if (e.answered > 0) next = onAnswered(c, next, e.answered, e.lastReplyUs ?? e.nowUs, out);
  if (e.missed !== null) next = onMissed(c, next, e.missed, e.nowUs, out);
  return next;
}

/** `count` probes answered, the last at `atUs`: the primary is alive. */
function onAnswered(c: MachineConfig, s: RoleState, count: number, atUs: number, out: Action[]): RoleState {
  const recovered = s.probe.misses > 0;
  const okProbes = s.probe.okProbes + count;
  // Every N answered probes (a batch may cross a multiple of N: once per crossing).
  const syncDue = Math.floor(okProbes / c.syncEveryProbes) > Math.floor(s.probe.okProbes / c.syncEveryProbes);
  const probe: ProbeState = { ...s.probe, misses: 0, repairs: 0, pinnedUs: null, okProbes, lastReplyUs: atUs };
  // Learn (and refresh) who holds the primary address, so a fence hits that member.
  if (probe.holder === null || recovered || syncDue) out.push({ type: 'lookup-holder' });
  // Patent [0010]: every N answered probes, copy the primary's key files.
  if (syncDue) out.push({ type: 'sync', okProbes });
  let next: RoleState = { ...s, probe };
  if (recovered)
    out.push(
      log('info', 'probe-recovered', `primary answered again after ${s.probe.misses} miss(es)`, {
        misses: s.probe.misses,
      }),
    );
  if (s.phase === 'monitor' && s.fence.status === 'uplink') next = { ...next, fence: idleFence() };
  if (next.probe.uplink !== 'unknown') next = { ...next, probe: { ...next.probe, uplink: 'unknown' } };
  if (s.phase === 'monitor' && s.fence.status === 'backoff') {
    // The primary answers again: whatever failed, it is alive; stop trying to fence it.
    out.push({ type: 'cancel-timer', timer: TIMER.fenceRetry });
    out.push(log('warn', 'fence-abandoned', 'primary answered again; fencing abandoned'));
    next = { ...next, fence: idleFence() };
  }
  return next;
}

/** Probe `sequence` got no reply within the timeout. */
function onMissed(c: MachineConfig, s: RoleState, sequence: number, nowUs: number, out: Action[]): RoleState {
  const probe: ProbeState = { ...s.probe, misses: s.probe.misses + 1 };
  const next: RoleState = { ...s, probe };
  out.push(log('debug', 'probe-miss', `no reply to probe ${sequence}`, { sequence, misses: probe.misses }));
  if (s.phase !== 'monitor' || s.fence.status !== 'idle') return next;
  // Read our ARP entry at every miss of a run: a forged reply that repointed it at a
  // stranger makes every probe miss a healthy primary (onHolder undoes it before the window
  // closes). A read of /proc/net/arp, only while probes go unanswered.
  if (probe.misses < c.probe.misses && probe.holder !== null) out.push({ type: 'lookup-holder' });
  if (c.uplink && probe.misses === 1 && c.probe.misses > 1) {
    // The uplink check runs beside the rest of the window, so it costs no time when the
    // primary really is down.
    out.push({ type: 'check', id: 0, address: 'uplink', windowUs: c.boot.checkUs });
    return { ...next, probe: { ...probe, uplink: 'pending' } };
  }
  if (probe.misses < c.probe.misses) return next;
  if (probe.holder === null && c.fencing.required && nowUs - probe.sinceUs < unknownHolderGraceUs(c)) {
    // Rule: a monitor that started moments ago and never heard the primary may simply be
    // early; fencing every other member now would power off a cluster that is booting.
    if (probe.misses === c.probe.misses)
      out.push(
        log(
          'info',
          'no-holder-yet',
          'primary address silent since this monitor started; waiting before fencing anyone',
          {
            graceMs: Math.round(unknownHolderGraceUs(c) / 1000),
          },
        ),
      );
    return next;
  }
  if (!c.uplink) return startFence(c, next, nowUs, out);
  return fenceIfUplinkHeard(c, { ...next, fence: { ...next.fence, status: 'uplink' } }, nowUs, out);
}

function onProbeFailed(s: RoleState, detail: string, out: Action[]): RoleState {
  if (!isProbing(s.phase)) return s;
  // Rule: a monitor that cannot probe cannot see the primary fail, and must not fence on
  // the silence of a broken socket. Give the monitor address up (a spare can take the
  // role) and take no part until restarted.
  out.push({ type: 'release', address: 'monitor' });
  onLost(s, out);
  cancelAll(out);
  out.push(log('error', 'probe-failed', `probing stopped: ${detail}; released the monitor address, halted`));
  const next = go(s, 'halted', `probing failed: ${detail}`, out);
  return { ...next, probe: freshProbe(0), fence: idleFence() };
}

function onHolder(c: MachineConfig, s: RoleState, mac: string | null, nowUs: number, out: Action[]): RoleState {
  if (!isProbing(s.phase) || mac === null) return s;
  const normalized = mac.toLowerCase();
  const member = c.members.find((m) => m.mac.toLowerCase() === normalized && m.name !== c.self);
  if (member === undefined) {
    // Rule: only members count. A stranger's MAC in our ARP entry (a misconfigured host, a
    // forged reply) is an alarm, never a reason to forget the member last seen holding it.
    if (s.probe.strangerMac !== normalized) {
      out.push(
        log(
          'error',
          'holder-unknown',
          `ARP says the primary address is at ${normalized}, which is no member: alarm; still counting ${s.probe.holder ?? 'no member'} as its holder`,
          { mac: normalized },
        ),
      );
    }
    const repaired = repairNeighbor(c, s, normalized, nowUs, out);
    return { ...repaired, probe: { ...repaired.probe, strangerMac: normalized } };
  }
  if (s.probe.holder !== member.name) {
    out.push(
      log('info', 'holder', `primary address is held by ${member.name} (${normalized})`, {
        holder: member.name,
        mac: normalized,
      }),
    );
  }
  return { ...s, probe: { ...s.probe, holder: member.name, strangerMac: null } };
}

/**
 * Rule: misses while our ARP entry for the primary address points at a stranger prove
 * nothing about the member holding it (the probes went to the stranger). During a run of
 * misses, a monitor that knows the holder points the entry back at the holder's MAC and
 * counts the run again from zero. At most MAX_NEIGHBOR_REPAIRS times per run (a stranger
 * still read within one detection window of the last repair is that repair not yet landed,
 * and is not counted again), so a forger who keeps repointing the entry delays the
 * detection of a dead primary by a few windows at most, never stops it (the kernel also
 * refuses a reply that overrides an entry updated less than its locktime, 1 s, ago). A
 * fence already started is not called back.
 */
export const MAX_NEIGHBOR_REPAIRS = 3;

function repairNeighbor(c: MachineConfig, s: RoleState, stranger: string, nowUs: number, out: Action[]): RoleState {
  if (s.phase !== 'monitor' || s.probe.misses === 0 || s.probe.holder === null) return s;
  if (s.fence.status !== 'idle' && s.fence.status !== 'uplink') return s;
  const windowUs = c.probe.misses * c.probe.intervalUs + c.probe.timeoutUs;
  const landing = s.probe.pinnedUs !== null && nowUs - s.probe.pinnedUs < windowUs;
  if (!landing && s.probe.repairs >= MAX_NEIGHBOR_REPAIRS) return s;
  const holder = c.members.find((m) => m.name === s.probe.holder);
  if (holder === undefined) return s;
  out.push({ type: 'pin-neighbor', mac: holder.mac.toLowerCase() });
  out.push(
    log(
      'error',
      'neighbor-poisoned',
      `ARP entry of the primary address pointed at ${stranger}, no member: set back to ${holder.name} (${holder.mac.toLowerCase()}); ${s.probe.misses} miss(es) not counted`,
      { mac: stranger, holder: holder.name, misses: s.probe.misses },
    ),
  );
  return {
    ...s,
    probe: {
      ...s.probe,
      misses: 0,
      repairs: landing ? s.probe.repairs : s.probe.repairs + 1,
      pinnedUs: landing ? s.probe.pinnedUs : nowUs,
      uplink: 'unknown',
    },
    fence: s.fence.status === 'uplink' ? idleFence() : s.fence,
  };
}

// ---------------------------------------------------------------- monitor: fencing

/**
 * Rule: fence only after hearing our own uplink; a monitor behind a silent port would
 * otherwise power off a healthy primary. Waits for a check still in flight, asks again if
 * none is (a defence check superseded it), fences nobody if the uplink was silent.
 */
function fenceIfUplinkHeard(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  switch (s.probe.uplink) {
    case 'heard':
      return startFence(c, { ...s, fence: { ...s.fence, status: 'idle' } }, nowUs, out);
    case 'pending':
      return s;
    case 'unknown':
      out.push({ type: 'check', id: 0, address: 'uplink', windowUs: c.boot.checkUs });
      return { ...s, probe: { ...s.probe, uplink: 'pending' } };
    case 'silent':
      out.push(
        log(
          'error',
          'uplink-silent',
          `${s.probe.misses} probes unanswered, but this monitor's uplink host is silent too: fencing nobody`,
          { misses: s.probe.misses },
        ),
      );
      return { ...s, probe: { ...s.probe, misses: 0, uplink: 'unknown' }, fence: idleFence() };
  }
}

/**
 * The primary address stayed silent for the whole window: fence whoever could hold it.
 * - A member was seen holding it: fence that member.
 * - No member was seen holding it (this monitor is new, or the holder looked like a
 *   stranger) and fencing is required: fence every other member, since any of them could
 *   hold it where we cannot hear (a silent switch port keeps its link up).
 * - Not required: a stranger's address is not ours to take; with nobody seen at all, go back
 *   through boot as primary, whose check claims the address only if it is silent (FIG. 2).
 */
function startFence(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  const window = `${s.probe.misses} probes unanswered`;
  const attempt = s.fence.attempt + 1;
  if (s.probe.holder !== null && releasedPrimary(c, s.peers, s.probe.holder)) {
    // Rule: the holder said, in an authenticated heartbeat it is still sending, that it gave
    // the address up (demote, failed health check, clean shutdown): nothing to fence.
    // [0013] still confirms the silence before the claim.
    const holder = s.probe.holder;
    out.push(
      log(
        'warn',
        'primary-released',
        `${window}; ${holder} released the primary address: taking over without a fence`,
        {
          holder,
        },
      ),
    );
    out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.fencing.confirmUs });
    const fence = { status: 'running' as const, targets: [holder], pending: [], fenced: [], attempt, released: true };
    return go({ ...s, fence }, 'confirming', `${holder} released the primary address; confirming it is silent`, out);
  }
  if (s.probe.holder !== null) {
    const target = s.probe.holder;
    out.push(log('warn', 'primary-down', `${window}; fencing ${target}`, { target, misses: s.probe.misses }));
    if (c.lease !== null) return leaseTakeover(c, s, [target], attempt, window, nowUs, out);
    return issueFences(s, [target], [target], [], attempt, out);
  }
  const seen =
    s.probe.strangerMac === null ? 'no member was seen holding it' : `held by ${s.probe.strangerMac}, no member`;
  if (c.fencing.required) {
    const others = c.members.map((m) => m.name).filter((name) => name !== c.self);
    out.push(
      log(
        'warn',
        'primary-down-unknown-holder',
        `${window}; the primary address was ${seen}: fencing every other member (${others.join(', ')})`,
        {
          targets: others.join(','),
          misses: s.probe.misses,
        },
      ),
    );
    // Under the lease gate the majority is the proof that nobody else holds a lease, and
    // fencing every other member would power off the voters the claim needs.
    if (c.lease !== null) return leaseTakeover(c, s, [], attempt, window, nowUs, out);
    return issueFences(s, others, others, [], attempt, out);
  }
  if (s.probe.strangerMac !== null) {
    out.push(log('error', 'no-fence-target', `${window}; the primary address was ${seen}: not taking over`));
    const failed = { ...s, fence: { status: 'running' as const, targets: [], pending: [], fenced: [], attempt } };
    return backoff(c, failed, nowUs, out);
  }
  out.push(log('warn', 'no-holder', `${window} and ${seen}; rebooting as primary (fencing.required is false)`));
  out.push({ type: 'release', address: 'monitor' });
  return persistAndReboot(s, 'primary', 'primary address silent and never held since this monitor started', out);
}

/** Asks for the fence of each of `now` (the rest of `targets` are already fenced). */
function issueFences(
  s: RoleState,
  targets: readonly string[],
  now: readonly string[],
  fenced: readonly string[],
  attempt: number,
  out: Action[],
): RoleState {
  for (const target of now) out.push({ type: 'fence', target });
  // Targets already fenced in an earlier round keep how they were fenced.
  const isolated = (s.fence.isolated ?? []).filter((t) => fenced.includes(t));
  return {
    ...s,
    fence: { status: 'running', targets, pending: now, fenced, attempt, ...(isolated.length > 0 ? { isolated } : {}) },
  };
}

function onFenceResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'fence-result' }>,
  out: Action[],
): RoleState {
  if (s.phase === 'primary') return onDeadMonitorFenced(c, s, e, out);
  if (s.phase !== 'monitor' || s.fence.status !== 'running' || !s.fence.pending.includes(e.target)) return s;
  const pending = s.fence.pending.filter((t) => t !== e.target);
  const fenced = e.ok ? [...s.fence.fenced, e.target] : s.fence.fenced;
  const isolated = e.ok && e.by === 'isolation' ? [...(s.fence.isolated ?? []), e.target] : s.fence.isolated;
  const next: RoleState = { ...s, fence: { ...s.fence, pending, fenced, ...(isolated ? { isolated } : {}) } };
  if (!e.ok) {
    const more = c.fencing.required
      ? 'NOT taking over (fencing.required is true), will retry'
      : 'taking over anyway because fencing.required is false';
    out.push(
      log('error', 'fence-failed', `fencing ${e.target} failed: ${e.detail}; ${more}`, {
        target: e.target,
        attempt: s.fence.attempt,
      }),
    );
  }
  // Rule: decide once every fence of this round has answered.
  if (pending.length > 0) return next;
  const unfenced = next.fence.targets.filter((t) => !fenced.includes(t));
  if (unfenced.length === 0) {
    // [0013]: every target is fenced; confirm the primary address stays silent before claiming.
    out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.fencing.confirmUs });
    return go(
      next,
      'confirming',
      `fenced ${fenced.join(', ')} (${e.detail}); confirming the primary address is silent`,
      out,
    );
  }
  if (!c.fencing.required) {
    out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.fencing.confirmUs });
    return go(next, 'confirming', `fence of ${unfenced.join(', ')} failed, fencing not required`, out);
  }
  return backoff(c, next, e.nowUs, out);
}

function backoff(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  const attempt = Math.max(1, s.fence.attempt);
  const delay = Math.min(c.fencing.retryUs * 2 ** (attempt - 1), c.fencing.retryMaxUs);
  out.push({ type: 'set-timer', timer: TIMER.fenceRetry, atUs: nowUs + delay });
  return { ...s, fence: { ...s.fence, status: 'backoff', attempt } };
}

function onFenceRetry(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  // Rule: retry only while the primary address is still silent.
  if (s.probe.misses < c.probe.misses) return { ...s, fence: idleFence() };
  // The lease gate retries the whole takeover: fences issued again, the lease asked again.
  if (c.lease !== null) return startFence(c, { ...s, fence: { ...s.fence, status: 'idle' } }, nowUs, out);
  const { targets, fenced, attempt } = s.fence;
  // Rule: a takeover that has fenced some targets retries only the rest; one with no
  // target yet (a stranger held the address) looks again.
  if (targets.length === 0) return startFence(c, { ...s, fence: { ...s.fence, status: 'idle' } }, nowUs, out);
  const rest = targets.filter((t) => !fenced.includes(t));
  out.push(
    log('warn', 'fence-retry', `fencing ${rest.join(', ')} again (attempt ${attempt + 1})`, {
      targets: rest.join(','),
    }),
  );
  return issueFences(s, targets, rest, fenced, attempt + 1, out);
}

function takeOver(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  const { targets, fenced } = s.fence;
  // The monitor address is released after the primary address is claimed and announced:
  // holding both for a moment harms nobody, and the takeover does not wait for the release.
  const after: Action[] = [{ type: 'release', address: 'monitor' }];
  // With off-on fencing the fenced servers stay off until we hold the address; then they are
  // powered on, boot, find the primary address taken and become monitor or spare.
  if (c.fencing.powerCycle === 'off-on') for (const target of fenced) after.push({ type: 'power-on', target });
  const all = targets.length > 0 && fenced.length === targets.length;
  const isolated = s.fence.isolated ?? [];
  const reason = s.fence.released
    ? `took over from ${targets[0] ?? 'nobody'} after its authenticated release`
    : targets.length === 1 && all && isolated.length === 1
      ? `took over from ${targets[0] ?? 'nobody'} after its isolation was confirmed (its power-off continues)`
      : targets.length === 1 && all
        ? `took over from ${targets[0] ?? 'nobody'} after fencing it`
        : all
          ? `took over after fencing every other member (${fenced.join(', ')})${isolated.length > 0 ? `, ${isolated.join(', ')} by isolation (power-off continues)` : ''}: no member was seen holding the primary address`
          : `took over from ${targets.join(', ') || 'nobody'} without a fence (fencing.required is false)`;
  stopProbing(out);
  const poweredOff = c.fencing.powerCycle === 'off-on' ? fenced : [];
  return claimPrimary(c, { ...s, poweredOff }, nowUs, reason, out, after);
}

// ---------------------------------------------------------------- the lease gate

/**
 * Claims the primary address, through the lease gate when it is on: ask a majority of
 * voters for the lease at a new epoch and claim once it is held (`onLease`). A voter grants
 * only when its promise to any other holder ran out, so a held lease proves the old
 * holder's address is gone (README "Takeover gates").
 */
function claimPrimary(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  reason: string,
  out: Action[],
  after: readonly Action[],
): RoleState {
  if (c.lease === null || s.lease.status === 'held') return becomePrimary(c, s, nowUs, reason, out, after);
  const epoch = s.lease.status === 'acquiring' ? s.lease.epoch : nextEpoch(s);
  out.push({ type: 'lease-acquire', epoch });
  out.push({ type: 'set-timer', timer: TIMER.leaseTimeout, atUs: nowUs + c.lease.acquireUs });
  out.push(
    log('info', 'lease-acquire', `asking the voters for the lease at epoch ${epoch} before claiming`, { epoch }),
  );
  return { ...s, lease: { status: 'acquiring', epoch, claim: { reason, after } } };
}

/**
 * The monitor's takeover under the lease gate: the fences go out at once and run on their
 * own (outcome logged, an alarm when one fails); the claim waits for the lease alone.
 */
function leaseTakeover(
  c: MachineConfig,
  s: RoleState,
  targets: readonly string[],
  attempt: number,
  why: string,
  nowUs: number,
  out: Action[],
): RoleState {
  // The fence goes out once per takeover: a retry asks for the lease again, it does not
  // power-cycle the server again (that fence is still running, or done).
  const fences = attempt === 1 ? targets : [];
  for (const target of fences) out.push({ type: 'fence', target, detached: true });
  const fence = { status: 'running' as const, targets, pending: [], fenced: [], attempt };
  const issued = targets.length === 0 ? 'no member seen holding it, nobody fenced' : 'fence issued';
  const next = go({ ...s, fence }, 'confirming', `${why}; ${issued}, waiting for the lease`, out);
  const reason =
    targets.length === 1
      ? `took over from ${targets[0] ?? 'nobody'}: a majority confirmed its lease ran out (fence issued)`
      : `took over: a majority confirmed no other lease is live (no member was seen holding the address)`;
  stopProbing(out);
  return claimPrimary(c, next, nowUs, reason, out, [{ type: 'release', address: 'monitor' }]);
}

function onLease(c: MachineConfig, s: RoleState, e: Extract<Event, { type: 'lease' }>, out: Action[]): RoleState {
  if (c.lease === null) return s;
  if (e.held) {
    const claim = s.lease.claim;
    const waiting =
      s.lease.status === 'acquiring' &&
      e.epoch === s.lease.epoch &&
      claim !== null &&
      (s.phase === 'checking-primary' || s.phase === 'confirming');
    if (!waiting) {
      // Rule: a lease nobody waits for (the claim was abandoned) is given back at once.
      if (s.phase !== 'primary') out.push({ type: 'lease-release' });
      return s;
    }
    out.push({ type: 'cancel-timer', timer: TIMER.leaseTimeout });
    out.push(
      log('info', 'lease-held', `a majority granted the lease at epoch ${e.epoch}: ${e.detail}`, { epoch: e.epoch }),
    );
    const held: RoleState = { ...s, lease: { status: 'held', epoch: e.epoch, claim: null } };
    return becomePrimary(c, held, e.nowUs, claim.reason, out, claim.after);
  }
  if (s.phase !== 'primary') {
    // A claim given up to a higher one: end it now, as a refused one.
    if (s.lease.status === 'acquiring' && e.epoch === s.lease.epoch) {
      out.push({ type: 'cancel-timer', timer: TIMER.leaseTimeout });
      return onLeaseTimeout(c, s, e.nowUs, out, e.detail);
    }
    return s.lease.status === 'acquiring' ? s : { ...s, lease: noLease() };
  }
  // Rule: a primary without a lease holds nothing: its enforcer is dropping the address
  // now; say so, and go through boot again (the check there sees who holds it).
  out.push(
    log('error', 'lease-lost', `lost the lease at epoch ${e.epoch}: ${e.detail}; giving up the primary address`, {
      epoch: e.epoch,
    }),
  );
  out.push({ type: 'release', address: 'primary' });
  onLost(s, out);
  cancelAll(out);
  return persistAndReboot({ ...s, lease: noLease() }, 'primary', `lease lost: ${e.detail}`, out);
}

function onLeaseTimeout(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  out: Action[],
  why = 'no majority granted it in time',
): RoleState {
  if (s.lease.status !== 'acquiring') return s;
  out.push({ type: 'lease-release' });
  out.push(
    log('error', 'lease-refused', `no lease at epoch ${s.lease.epoch} (${why}): not claiming`, {
      epoch: s.lease.epoch,
    }),
  );
  const next: RoleState = { ...s, lease: noLease() };
  if (s.phase === 'confirming') {
    // Back to probing; the next run of misses starts another takeover (after the backoff).
    startProbing(nowUs, out);
    return backoff(
      c,
      go({ ...next, probe: freshProbe(nowUs) }, 'monitor', 'no lease granted: not taking over', out),
      nowUs,
      out,
    );
  }
  if (s.phase === 'checking-primary')
    return persistAndReboot(next, 'primary', 'no lease granted at boot: checking again', out);
  return next;
}

// ---------------------------------------------------------------- primary: health

function onHealthResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'health-result' }>,
  out: Action[],
): RoleState {
  if (s.phase !== 'primary' || c.health === null) return s;
  out.push({ type: 'set-timer', timer: TIMER.health, atUs: e.nowUs + c.health.intervalUs });
  if (e.ok) return s.healthFails === 0 ? s : { ...s, healthFails: 0 };
  const fails = s.healthFails + 1;
  out.push(
    log('warn', 'health-failed', `service health check failed (${fails}/${c.health.fails}): ${e.detail}`, { fails }),
  );
  if (fails < c.health.fails) return { ...s, healthFails: fails };
  // Rule: a primary whose service is broken gives the address up cleanly; the monitor
  // sees the silence and takes over through the normal path (fence, confirm, claim).
  out.push({ type: 'cancel-timer', timer: TIMER.health });
  out.push({ type: 'cancel-timer', timer: TIMER.announce });
  const spare = { ...s, role: 'spare' as const, epoch: nextEpoch(s), healthFails: 0 };
  const reason = `service health check failed ${fails} times in a row: ${e.detail}`;
  out.push({ type: 'persist', role: 'spare', epoch: spare.epoch, reason });
  out.push({ type: 'release', address: 'primary' });
  return enterSpare(c, spare, e.nowUs, `gave up the primary address: ${reason}`, out);
}

// ---------------------------------------------------------------- link and failures

function onLink(s: RoleState, e: Extract<Event, { type: 'link' }>, out: Action[]): RoleState {
  if (e.up === s.linkUp) return s;
  if (!e.up) {
    if (s.phase === 'booting' || s.phase === 'halted') return { ...s, linkUp: false };
    // Rule: with our link down we can neither serve nor observe. Drop every address so
    // that, when the link returns, we cannot answer beside a server that took over.
    out.push({ type: 'release', address: 'primary' });
    out.push({ type: 'release', address: 'monitor' });
    onLost(s, out);
    cancelAll(out);
    const next = go(
      { ...s, linkUp: false },
      'link-down',
      `link went down in phase ${s.phase}; released all addresses`,
      out,
    );
    return { ...next, probe: freshProbe(e.nowUs), fence: idleFence() };
  }
  const up = { ...s, linkUp: true };
  if (s.phase !== 'link-down') return up;
  // Rule: when the link returns, start over from boot: the conflict checks decide again.
  out.push({ type: 'reboot', reason: 'link came back up' });
  return go(up, 'booting', 'link came back up; rebooting into the boot checks', out);
}

/**
 * Rule: a role whose address could not be assigned was not taken. Release what may be half
 * there, give fenced servers their power back, and re-enter boot, whose checks decide again.
 */
function onAssignFailed(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'assign-failed' }>,
  out: Action[],
): RoleState {
  out.push(
    log('error', 'assign-failed', `could not assign the ${e.address} address: ${e.detail}; the role change failed`),
  );
  out.push({ type: 'release', address: e.address });
  onLost(s, out);
  cancelAll(out);
  if (c.fencing.powerCycle === 'off-on') powerOn(s.poweredOff, 'the takeover could not assign the address', out);
  out.push({ type: 'reboot', reason: `assigning the ${e.address} address failed` });
  const next = go(s, 'booting', `assigning the ${e.address} address failed: ${e.detail}; rebooting`, out);
  return { ...next, poweredOff: [], fence: idleFence(), probe: freshProbe(e.nowUs) };
}

function onPersistFailed(c: MachineConfig, s: RoleState, detail: string, nowUs: number, out: Action[]): RoleState {
  // Rule: never act on a role change that is not on disk. Hold nothing, take no part.
  out.push({ type: 'release', address: 'primary' });
  out.push({ type: 'release', address: 'monitor' });
  onLost(s, out);
  cancelAll(out);
  out.push(log('error', 'persist-failed', `could not persist the role record: ${detail}; halted, holding no address`));
  // Rule: servers fenced for a takeover that cannot happen are powered on again, so the
  // cluster is not left with nobody (they boot and decide again).
  if (c.fencing.powerCycle === 'off-on')
    powerOn([...new Set([...s.poweredOff, ...s.fence.fenced])], 'this server cannot persist its role', out);
  const next = go(s, 'halted', `persisting failed: ${detail}`, out);
  out.push({ type: 'set-timer', timer: TIMER.haltRetry, atUs: nowUs + HALT_RETRY_US });
  return { ...next, poweredOff: [], fence: idleFence() };
}

// ---------------------------------------------------------------- operator commands

function onCommand(
  c: MachineConfig,
  s: RoleState,
  command: Extract<Event, { type: 'command' }>['command'],
  nowUs: number,
  out: Action[],
): RoleState {
  switch (command) {
    case 'maintenance-on': {
      if (s.maintenance) return s;
      // Rule: in maintenance nothing is decided; what is held stays held.
      for (const timer of [TIMER.fenceRetry, TIMER.spareCheck, TIMER.health, TIMER.defend, TIMER.confirmRetry])
        out.push({ type: 'cancel-timer', timer });
      out.push({ type: 'probe-stop' });
      out.push(
        log(
          'warn',
          'maintenance',
          `maintenance on in phase ${s.phase}: no probing, fencing, claiming or health checks until it is turned off`,
        ),
      );
      const quiet: RoleState = { ...s, maintenance: true, probe: { ...s.probe, misses: 0 }, fence: idleFence() };
      // A takeover in its confirmation ends here: the server is the monitor it was.
      return s.phase === 'confirming'
        ? go(quiet, 'monitor', 'maintenance on during confirmation: takeover abandoned', out)
        : quiet;
    }
    case 'maintenance-off': {
      if (!s.maintenance) return s;
      out.push(log('warn', 'maintenance', `maintenance off in phase ${s.phase}; resuming`));
      const next = { ...s, maintenance: false };
      if (s.phase === 'monitor') startProbing(nowUs, out);
      if (s.phase === 'spare' || s.phase === 'spare-checking')
        return enterSpare(c, next, nowUs, 'maintenance off', out, { recheck: true });
      if (s.phase === 'primary' && c.health !== null)
        out.push({ type: 'set-timer', timer: TIMER.health, atUs: nowUs + c.health.intervalUs });
      if ((s.phase === 'primary' || s.phase === 'monitor') && c.defendUs > 0)
        out.push({ type: 'set-timer', timer: TIMER.defend, atUs: nowUs + c.defendUs });
      return s.phase === 'monitor' ? { ...next, probe: { ...freshProbe(nowUs), holder: s.probe.holder } } : next;
    }
    case 'demote': {
      // Like a failed health check: give the address up cleanly; the monitor takes over
      // through its normal path (fence, confirm, claim).
      cancelAll(out);
      const spare = { ...s, role: 'spare' as const, epoch: nextEpoch(s), maintenance: false };
      out.push({ type: 'persist', role: 'spare', epoch: spare.epoch, reason: 'demoted by the operator' });
      out.push({ type: 'release', address: 'primary' });
      return enterSpare(c, spare, nowUs, 'demoted by the operator: gave up the primary address', out);
    }
    case 'promote': {
      if (s.phase === 'monitor') {
        // The operator's word replaces the missed probes; everything after is the normal
        // takeover: fence the holder, confirm silence, claim.
        out.push(log('warn', 'promote', 'promoted by the operator: taking over now'));
        return startFence(c, { ...s, maintenance: false }, nowUs, out);
      }
      if (s.phase === 'spare') {
        out.push({ type: 'cancel-timer', timer: TIMER.spareCheck });
        return persistAndReboot({ ...s, maintenance: false }, 'monitor', 'promoted by the operator from spare', out);
      }
      return s;
    }
  }
}

/** Why this server cannot carry out `command` now, or null when it can. */
function refusal(s: RoleState, command: OperatorCommand): string | null {
  switch (command) {
    case 'demote':
      return s.phase === 'primary' ? null : `demote: only a primary can be demoted; this server is ${s.phase}`;
    case 'promote':
      if (s.phase === 'monitor') return s.fence.status === 'idle' ? null : 'promote: a fence is already in progress';
      return s.phase === 'spare'
        ? null
        : `promote: only a monitor or a spare can be promoted; this server is ${s.phase}`;
    case 'maintenance-on':
    case 'maintenance-off':
      return null;
  }
}

// ---------------------------------------------------------------- helpers

/** The Prober's cadence begins at `atUs`. */
function startProbing(atUs: number, out: Action[]): void {
  out.push({ type: 'probe-start', atUs });
}

function stopProbing(out: Action[]): void {
  out.push({ type: 'probe-stop' });
}

/** Every timer, and the Prober. */
function cancelAll(out: Action[]): void {
  for (const timer of Object.values(TIMER)) out.push({ type: 'cancel-timer', timer });
  out.push({ type: 'probe-stop' });
}

/**
 * The epoch of the next persisted role change: above this server's own and above every
 * epoch a member was heard with, so epochs order role changes across the cluster, and the
 * highest seen is on disk before any claim it orders.
 */
function nextEpoch(s: RoleState): number {
  return Math.max(s.epoch, s.peers.highestEpoch) + 1;
}

/**
 * The one door through which the phase changes: every change is a `transition` action. A
 * `routine` one (a spare's periodic check of the monitor address and its return) is logged
 * by the executor at debug level and kept out of the history and the console.
 */
function go(s: RoleState, to: Phase, reason: string, out: Action[], how: { routine?: boolean } = {}): RoleState {
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

/**
 * Rule (FIG. 1 with fencing required and the peer heartbeat on, outside the lease gate): a
 * persisted primary claims a silent primary address at boot only once every other member
 * has been heard, none saying it holds it. Null: nothing stands in the way of the claim;
 * otherwise who is not heard (see `unheardMembers`).
 */
function silentClaimBlockers(c: MachineConfig, s: RoleState): { silent: string[]; pending: string[] } | null {
  if (!c.fencing.required || c.peer === null || c.lease !== null) return null;
  const unheard = unheardMembers(c, s.peers);
  return unheard.silent.length === 0 && unheard.pending.length === 0 ? null : unheard;
}

/** Whether a member in `phase` holds `address` by its role (not merely not yet released). */
function holdsByPhase(address: AddressName, phase: Phase): boolean {
  return address === 'primary' ? phase === 'primary' : phase === 'monitor' || phase === 'confirming';
}

/**
 * Rule: whenever a held address is given up for a reason other than a new role (link down,
 * halt, failed probing, a yield), run on_spare, so the service stops serving without it.
 */
function onLost(s: RoleState, out: Action[]): void {
  if (holdsAddress(s.phase)) out.push({ type: 'hook', hook: 'on_spare' });
}

function idleFence(): RoleState['fence'] {
  return { status: 'idle', targets: [], pending: [], fenced: [], attempt: 0 };
}
