/**
 * The monitor's probing: answered and missed probes, a failed prober, and the holder's ARP entry
 * (and its repair).
 */
import { log } from './actions.js';
import { TIMER } from './timers.js';
import { detectionUs } from './windows.js';
import type { Action, Event, MachineConfig, ProbeState, RoleState } from './types.js';
import { fenceIfUplinkHeard, startFence } from './fence-steps.js';
import { freshProbe, unknownHolderGraceUs, isProbing, cancelAll, go, onLost, idleFence } from './phase.js';

export function onProbeBatch(
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
  if (s.phase === 'confirming' && (s.fence.afterLease?.length ?? 0) > 0) return abandonClaim(next, out);
  if (s.phase === 'monitor' && s.fence.status === 'backoff') {
    // The primary answers again: whatever failed, it is alive; stop trying to fence it.
    out.push({ type: 'cancel-timer', timer: TIMER.fenceRetry });
    out.push(log('warn', 'fence-abandoned', 'primary answered again; fencing abandoned'));
    next = { ...next, fence: idleFence() };
  }
  return next;
}

/**
 * Rule (lease gate): a takeover that asked for the lease before fencing ends when the holder
 * answers a probe before the grant: it is alive (a holder whose lease ran out has no address
 * to answer on). The claim is given back, so this monitor votes for the holder again, and
 * nobody is fenced.
 */
function abandonClaim(s: RoleState, out: Action[]): RoleState {
  const names = (s.fence.afterLease ?? []).join(', ');
  out.push({ type: 'cancel-timer', timer: TIMER.leaseTimeout });
  out.push(
    log(
      'warn',
      'takeover-abandoned',
      `${names} answered again while the lease was asked for: it is alive; claim given up, nobody fenced`,
      { target: names },
    ),
  );
  return go({ ...s, fence: idleFence() }, 'monitor', `${names} answered again: not taking over`, out);
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

export function onProbeFailed(s: RoleState, detail: string, out: Action[]): RoleState {
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

export function onHolder(c: MachineConfig, s: RoleState, mac: string | null, nowUs: number, out: Action[]): RoleState {
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
  const windowUs = detectionUs(c);
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
