/**
 * Boot (FIG. 1, FIG. 2): the uplink check, the conflict checks of the persisted role's address,
 * and their results.
 */
import type { PersistedRole } from '../../hal/store/index.js';
import { nextRandom } from '../../hal/base/random.js';
import { log, offMayBePending, powerOn } from './actions.js';
import { heardPrimaryHolder, onDeadMonitorCheck } from './dead-monitor.js';
import { TIMER } from './timers.js';
import type { Action, CheckTarget, Event, MachineConfig, ProbeState, RoleState } from './types.js';
import { withoutStrangers, onDefendResult } from './defence-steps.js';
import { fenceIfUplinkHeard, takeOver, claimPrimary } from './fence-steps.js';
import { STALE_SLACK_US, claimsAhead, go, silentClaimBlockers, idleFence } from './phase.js';
import { becomeMonitor, enterSpare, persistAndReboot } from './roles.js';

export function onBoot(c: MachineConfig, s: RoleState, e: Extract<Event, { type: 'boot' }>, out: Action[]): RoleState {
  // Rule: only a fresh machine boots; a second boot event is a bug upstream, ignore it.
  if (s.phase !== 'booting') return s;
  const role: PersistedRole = e.record?.role ?? 'primary';
  const epoch = e.record?.epoch ?? 0;
  // Rule: a fenced server is powered on again even if its fencer restarted in between; if
  // the off may still be pending in its BMC (decided on this very boot less than
  // fencing.power_timeout_ms ago, or at a time this boot cannot place), each on waits for
  // the power to read off first (offMayBePending).
  const at = e.record?.poweredOffAt;
  const waitOffUntilUs = offMayBePending(c, at, e.bootId, e.nowUs);
  const sameBoot = at !== undefined && e.bootId !== '' && at.bootId === e.bootId;
  powerOn(
    e.record?.poweredOff ?? [],
    waitOffUntilUs === undefined
      ? 'powered off by this server before it restarted'
      : sameBoot
        ? `powered off by this server ${Math.round((e.nowUs - at.atUs) / 1000)} ms before it restarted (once the power reads off)`
        : 'powered off by this server before it restarted, at a time this boot cannot place (once the power reads off)',
    out,
    waitOffUntilUs,
  );
  const base: RoleState = { ...s, role, epoch, linkUp: e.linkUp, deferSinceUs: null, bootId: e.bootId };
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

export function onBootDelay(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  if (s.role === 'primary') {
    // Not even a check (its probes would only make the higher member's check back off).
    const ahead = claimsAhead(c, s, nowUs);
    if (ahead.length > 0) return deferClaim(c, s, nowUs, ahead, out);
  }
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

/**
 * The answer to the primary's check of a silent monitor's address, started after the monitor
 * fell silent. It counts even when a later check superseded it: the primary's defence check
 * asks about another address and repeats every `boot.defend_ms`, in step with this check's
 * one-second retry, so a defence check started inside this check's window would void its
 * answer every time and the dead monitor would never be fenced. A primary asks about the
 * monitor address for this rule only.
 */
function deadMonitorAnswer(s: RoleState, e: Extract<Event, { type: 'check-result' }>): boolean {
  const since = s.peers.deadSinceUs;
  return s.phase === 'primary' && e.address === 'monitor' && since !== null && e.startedUs >= since;
}

export function onCheckResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): RoleState {
  // Rule: only the answer to the latest check counts; an older one (a defence check still
  // in flight across a reboot, say) describes a question nobody is asking any more.
  if (e.id !== s.checkSeq && !deadMonitorAnswer(s, e)) return s;
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
      const unheard = silentClaimBlockers(c, s, e.nowUs);
      if (unheard === null) {
        // A member of a higher name may have set out for its claim during our check.
        const ahead = claimsAhead(c, s, e.nowUs);
        if (ahead.length > 0) return deferClaim(c, s, e.nowUs, ahead, out);
        return claimPrimary(c, s, e.nowUs, 'primary address silent at boot', out, []);
      }
      if (unheard.silent.length === 0) {
        // The heartbeat has not heard every member yet (a cluster booting together), or not
        // lately: wait for each to be heard or declared silent, checking again as after a
        // contended check.
        const { delayUs, seed } = backoff(c, s.rng);
        out.push({ type: 'set-timer', timer: TIMER.bootDelay, atUs: e.nowUs + delayUs });
        return go(
          { ...s, rng: seed },
          'boot-wait',
          `primary address silent, ${notHeard(unheard.pending, unheard.stale, c.peer?.freshUs ?? 0)}; checking again before any claim`,
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
    // A handover's final sync still running: the claim waits for it (or sync.final_ms).
    if (!e.taken && s.fence.finalSync === 'running') return { ...s, fence: { ...s.fence, silent: true } };
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
  const { delayUs: delay, seed } = backoff(c, s.rng);
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

/**
 * `claimsAhead`: wait as after a contended check, then look again. Only the first deferral of
 * a boot is a logged transition; the ones after it, while the same members are ahead, are
 * routine (a wait can last `peer.deferUs`, some twenty rounds).
 */
function deferClaim(c: MachineConfig, s: RoleState, nowUs: number, ahead: readonly string[], out: Action[]): RoleState {
  const { delayUs, seed } = backoff(c, s.rng);
  out.push({ type: 'set-timer', timer: TIMER.bootDelay, atUs: nowUs + delayUs });
  const routine = s.phase === 'boot-wait' && s.deferSinceUs !== null;
  return go(
    { ...s, rng: seed, deferSinceUs: s.deferSinceUs ?? nowUs },
    'boot-wait',
    `${ahead.join(', ')} (a higher name) was heard on its way to a boot claim of the primary address: it claims first; checking again after it`,
    out,
    { routine },
  );
}

/**
 * The wait before a boot check is tried again (contended, members not heard, a member of a
 * higher name ahead): one check window, plus a random part of the boot jitter (at least two
 * windows), so servers that waited together do not try again in lockstep.
 */
function backoff(c: MachineConfig, rng: number): { delayUs: number; seed: number } {
  const { value, seed } = nextRandom(rng);
  return { delayUs: c.boot.checkUs + Math.floor(value * Math.max(c.boot.jitterUs, 2 * c.boot.checkUs)), seed };
}

/** `b not heard yet`, `c not heard in the last 250 ms`, or both, for the boot-wait reason. */
function notHeard(pending: readonly string[], stale: readonly string[], freshUs: number): string {
  return [
    ...(pending.length > 0 ? [`${pending.join(', ')} not heard yet`] : []),
    ...(stale.length > 0 ? [`${stale.join(', ')} not heard in the last ${Math.round(freshUs / 1000)} ms`] : []),
  ].join(', ');
}
