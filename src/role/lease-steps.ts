/** The `lease` gate's steps: a lease granted or refused, and a lease that ran out. */
import { log, poweredOffFields } from './actions.js';
import { TIMER } from './timers.js';
import type { Action, Event, MachineConfig, RoleState } from './types.js';
import { noLease, freshProbe, backoff, startProbing, cancelAll, go, onLost, nextEpoch } from './phase.js';
import { becomePrimary, persistAndReboot } from './roles.js';

export function onLease(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'lease' }>,
  out: Action[],
): RoleState {
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
    // A takeover that asked for the lease before fencing fences now, after the address is
    // claimed and announced (the claim does not wait for it); it probed on while it waited.
    const deferred = s.phase === 'confirming' ? (s.fence.afterLease ?? []) : [];
    if (deferred.length > 0) {
      const names = deferred.join(', ');
      out.push(
        log(
          'warn',
          'primary-down',
          `the voters granted the lease: ${names}'s lease ran out, its enforcer has dropped the address; fencing ${names} (the claim does not wait for it)`,
          { target: names, misses: s.probe.misses },
        ),
      );
    }
    // The probes it sent while it waited stop once the address is claimed and announced: the
    // thread's stop waits for the thread to end, and batches that come after the claim count
    // for nothing (a primary does not probe).
    const stop: Action[] = deferred.length > 0 ? [{ type: 'probe-stop' }] : [];
    const fences = deferred.map((target): Action => ({ type: 'fence', id: 0, target, detached: true }));
    const held: RoleState = { ...s, lease: { status: 'held', epoch: e.epoch, claim: null } };
    // Rule: what this server is about to power off is persisted first (as a fence round does),
    // so that it powers them on again when it boots, even if it dies while a BMC takes seconds
    // to cut the power. After the address is claimed and announced (the claim never waits for
    // it), before the fence; like every persist, at a new epoch.
    const record = deferred.length > 0 && c.fencing.powerCycle === 'off-on';
    const poweredOff = record ? [...new Set([...s.poweredOff, ...deferred])] : s.poweredOff;
    const fencedEpoch = nextEpoch(held);
    const poweredOffAt = record ? { bootId: s.bootId, atUs: e.nowUs } : s.poweredOffAt;
    const saveFenced: Action[] = record
      ? [
          {
            type: 'persist',
            role: 'primary',
            epoch: fencedEpoch,
            reason: `fencing ${deferred.join(', ')}`,
            ...poweredOffFields(poweredOff, poweredOffAt),
          },
        ]
      : [];
    const next = becomePrimary(
      c,
      held,
      e.nowUs,
      claim.reason,
      out,
      [...stop, ...saveFenced, ...fences, ...claim.after],
      claim.recorded,
    );
    return record ? { ...next, epoch: fencedEpoch, poweredOff, poweredOffAt } : next;
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

export function onLeaseTimeout(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  out: Action[],
  why = 'no majority granted it in time',
): RoleState {
  if (s.lease.status !== 'acquiring') return s;
  out.push({ type: 'lease-release' });
  const deferred = s.phase === 'confirming' ? (s.fence.afterLease ?? []) : [];
  const names = deferred.join(', ');
  // A refusal of a takeover's first lease request fenced nobody: the voters still keep a
  // promise to the holder (it renews its lease, so it is alive), or too few of them answer.
  out.push(
    deferred.length > 0
      ? log(
          'warn',
          'lease-refused',
          `no lease at epoch ${s.lease.epoch} (${why}): not claiming, and not fencing ${names}: a majority still keeps a promise to it (it renews its lease) or did not answer; probing again`,
          { epoch: s.lease.epoch, notFenced: names },
        )
      : log('error', 'lease-refused', `no lease at epoch ${s.lease.epoch} (${why}): not claiming`, {
          epoch: s.lease.epoch,
        }),
  );
  const next: RoleState = { ...s, lease: noLease() };
  if (s.phase === 'confirming') {
    // Back to probing; the next run of misses starts another takeover (after the backoff).
    // The holder seen is kept, so that takeover fences it: a dead holder answers no probe
    // that would name it again.
    if (deferred.length === 0) startProbing(nowUs, out);
    const probe = { ...freshProbe(nowUs), holder: s.probe.holder, sinceUs: s.probe.sinceUs };
    return backoff(c, go({ ...next, probe }, 'monitor', 'no lease granted: not taking over', out), nowUs, out);
  }
  if (s.phase === 'checking-primary')
    return persistAndReboot(next, 'primary', 'no lease granted at boot: checking again', out);
  return next;
}
