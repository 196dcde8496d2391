/** Fencing the holder the monitor lost and taking the primary address over, per takeover gate. */
import { log, poweredOffFields } from './actions.js';
import { releasedPrimary, onDeadMonitorFenced } from './dead-monitor.js';
import { TIMER } from './timers.js';
import type { Action, Event, MachineConfig, RoleState } from './types.js';
import { backoff, stopProbing, nextEpoch, go, idleFence } from './phase.js';
import { becomePrimary, persistAndReboot } from './roles.js';

/**
 * Rule: fence only after hearing our own uplink; a monitor behind a silent port would
 * otherwise power off a healthy primary. Waits for a check still in flight, asks again if
 * none is (a defence check superseded it), fences nobody if the uplink was silent.
 */
export function fenceIfUplinkHeard(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
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
export function startFence(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  out: Action[],
  by: 'misses' | 'operator' = 'misses',
): RoleState {
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
    // Rule: with replication on, the last changes are pulled from the releaser before the
    // claim (its on_primary hook must find them here), alongside the confirmation and for at
    // most sync.final_ms; a pull that fails or runs late costs the data, not the takeover.
    const finalSync = c.finalSyncUs > 0 ? ('running' as const) : undefined;
    if (finalSync !== undefined) {
      out.push({ type: 'final-sync', from: holder });
      out.push({ type: 'set-timer', timer: TIMER.finalSync, atUs: nowUs + c.finalSyncUs });
    }
    const fence = {
      status: 'running' as const,
      targets: [holder],
      pending: [],
      fenced: [],
      attempt,
      released: true,
      ...(finalSync === undefined ? {} : { finalSync }),
    };
    const also = finalSync === undefined ? '' : ' and pulling its last changes';
    return go(
      { ...s, fence },
      'confirming',
      `${holder} released the primary address; confirming it is silent${also}`,
      out,
    );
  }
  if (s.probe.holder !== null) {
    const target = s.probe.holder;
    if (c.lease !== null) return leaseTakeover(c, s, [target], attempt, window, nowUs, out, by);
    out.push(log('warn', 'primary-down', `${window}; fencing ${target}`, { target, misses: s.probe.misses }));
    return issueFences(c, s, [target], [target], [], attempt, nowUs, out);
  }
  const seen =
    s.probe.strangerMac === null ? 'no member was seen holding it' : `held by ${s.probe.strangerMac}, no member`;
  if (c.fencing.required) {
    const others = c.members.map((m) => m.name).filter((name) => name !== c.self);
    // Under the lease gate the majority is the proof that nobody else holds a lease, and
    // fencing every other member would power off the voters the claim needs.
    if (c.lease !== null) {
      out.push(
        log('warn', 'primary-down-unknown-holder', `${window}; the primary address was ${seen}: claiming on a lease`, {
          misses: s.probe.misses,
        }),
      );
      return leaseTakeover(c, s, [], attempt, window, nowUs, out, by);
    }
    // Rule: a member that said, authenticated and recently, that it is a spare holding
    // nothing cannot hold the address unseen (a spare reaches the primary role only through
    // the monitor role and a fence of its own); every other member could, and is fenced.
    const spares = others.filter((name) => releasedPrimary(c, s.peers, name));
    const targets = others.filter((name) => !spares.includes(name));
    const excused = spares.length === 0 ? '' : `; not ${spares.join(', ')}: heard as spares holding nothing`;
    out.push(
      log(
        'warn',
        'primary-down-unknown-holder',
        targets.length === 0
          ? `${window}; the primary address was ${seen}, and every other member (${spares.join(', ')}) is heard as a spare holding nothing: no fence`
          : `${window}; the primary address was ${seen}: fencing ${targets.join(', ')}${excused}`,
        { targets: targets.join(','), spares: spares.join(','), misses: s.probe.misses },
      ),
    );
    if (targets.length === 0) {
      // [0013] still confirms the silence before the claim.
      out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.fencing.confirmUs });
      const fence = { status: 'running' as const, targets: [], pending: [], fenced: [], attempt, spares };
      return go(
        { ...s, fence },
        'confirming',
        'every other member is a spare holding nothing; confirming the primary address is silent',
        out,
      );
    }
    return issueFences(c, s, targets, targets, [], attempt, nowUs, out, spares);
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

/**
 * Asks for the fence of each of `now` (the rest of `targets` are already fenced). `spares`:
 * the members excused as spares holding nothing (only with no holder seen).
 */
function issueFences(
  c: MachineConfig,
  s: RoleState,
  targets: readonly string[],
  now: readonly string[],
  fenced: readonly string[],
  attempt: number,
  nowUs: number,
  out: Action[],
  spares: readonly string[] = [],
): RoleState {
  // Rule: what this server is about to power off is persisted first, with when (this boot's
  // clock), so that it powers them on again when it boots, even if it dies before the
  // takeover (which persists them again), and, restarted while a BMC may still carry out the
  // off, only once the power reads off. Like every persist, it takes a new epoch.
  let epoch = s.epoch;
  let poweredOffAt = s.poweredOffAt;
  if (c.fencing.powerCycle === 'off-on' && now.length > 0) {
    epoch = nextEpoch(s);
    poweredOffAt = { bootId: s.bootId, atUs: nowUs };
    out.push({
      type: 'persist',
      role: s.role,
      epoch,
      reason: `fencing ${now.join(', ')}`,
      poweredOff: [...new Set([...fenced, ...now])],
      poweredOffAt,
    });
  }
  for (const target of now) out.push({ type: 'fence', id: 0, target });
  // Targets already fenced in an earlier round keep how they were fenced.
  const isolated = (s.fence.isolated ?? []).filter((t) => fenced.includes(t));
  return {
    ...s,
    epoch,
    poweredOffAt,
    fence: {
      status: 'running',
      targets,
      pending: now,
      fenced,
      attempt,
      ...(isolated.length > 0 ? { isolated } : {}),
      ...(spares.length > 0 ? { spares } : {}),
    },
  };
}

export function onFenceResult(
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
        fenceId: e.id,
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

export function onFenceRetry(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
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
  return issueFences(c, s, targets, rest, fenced, attempt + 1, nowUs, out, s.fence.spares ?? []);
}

/**
 * A handover's final sync ended (`ok`), failed, or ran out of sync.final_ms (`timedOut`).
 * The claim follows a silent confirmation directly: one still running decides; one that
 * ended while the pull ran is repeated, since the address has been unwatched since (a
 * member booting meanwhile may have claimed it).
 */
export function onFinalSyncEnded(
  c: MachineConfig,
  s: RoleState,
  ended: { ok: boolean; detail: string; timedOut?: boolean },
  out: Action[],
): RoleState {
  if (s.phase !== 'confirming' || s.fence.finalSync !== 'running') return s;
  const from = s.fence.targets[0] ?? 'nobody';
  if (ended.timedOut !== true) out.push({ type: 'cancel-timer', timer: TIMER.finalSync });
  out.push(
    ended.ok
      ? log('info', 'final-sync', `pulled the last changes from ${from} before the claim: ${ended.detail}`, { from })
      : log(
          'error',
          'final-sync-failed',
          `could not pull the last changes from ${from} (${ended.detail}); claiming with the last periodic sync's copy`,
          { from },
        ),
  );
  if (s.fence.silent !== true) return { ...s, fence: { ...s.fence, finalSync: 'ended' } };
  out.push({ type: 'check', id: 0, address: 'primary', windowUs: c.fencing.confirmUs });
  return { ...s, fence: { ...s.fence, finalSync: 'ended', silent: false } };
}

export function takeOver(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  const { targets, fenced } = s.fence;
  // The monitor address is released after the primary address is claimed and announced:
  // holding both for a moment harms nobody, and the takeover does not wait for the release.
  const after: Action[] = [{ type: 'release', address: 'monitor' }];
  // With off-on fencing the fenced servers stay off until we hold the address; then they are
  // powered on, boot, find the primary address taken and become monitor or spare.
  if (c.fencing.powerCycle === 'off-on') for (const target of fenced) after.push({ type: 'power-on', target });
  const all = targets.length > 0 && fenced.length === targets.length;
  const isolated = s.fence.isolated ?? [];
  const spares = s.fence.spares ?? [];
  // With no holder ever seen, the reason names every member fenced and every spare excused.
  const everyOther = all && (targets.length > 1 || spares.length > 0);
  const reason = s.fence.released
    ? `took over from ${targets[0] ?? 'nobody'} after its authenticated release`
    : !everyOther && targets.length === 1 && all && isolated.length === 1
      ? `took over from ${targets[0] ?? 'nobody'} after its isolation was confirmed (its power-off continues)`
      : !everyOther && targets.length === 1 && all
        ? `took over from ${targets[0] ?? 'nobody'} after fencing it`
        : all
          ? `took over after fencing every other member (${fenced.join(', ')})${isolated.length > 0 ? `, ${isolated.join(', ')} by isolation (power-off continues)` : ''}${spares.length > 0 ? ` but the spares heard holding nothing (${spares.join(', ')})` : ''}: no member was seen holding the primary address`
          : targets.length === 0 && spares.length > 0
            ? `took over with no fence: every other member (${spares.join(', ')}) was heard as a spare holding nothing, and no member was seen holding the primary address`
            : `took over from ${targets.join(', ') || 'nobody'} without a fence (fencing.required is false)`;
  stopProbing(out);
  const poweredOff = c.fencing.powerCycle === 'off-on' ? fenced : [];
  return claimPrimary(c, { ...s, poweredOff }, nowUs, reason, out, after);
}

/**
 * Claims the primary address, through the lease gate when it is on: ask a majority of
 * voters for the lease at a new epoch and claim once it is held (`onLease`). A voter grants
 * only when its promise to any other holder ran out, so a held lease proves the old
 * holder's address is gone (README "Takeover gates").
 */
export function claimPrimary(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  reason: string,
  out: Action[],
  after: readonly Action[],
): RoleState {
  if (c.lease === null || s.lease.status === 'held') return becomePrimary(c, s, nowUs, reason, out, after);
  const epoch = s.lease.status === 'acquiring' ? s.lease.epoch : nextEpoch(s);
  // Rule: the lease is asked for first, and the claim's role record (primary, at the epoch
  // asked for) is saved while the request is on the wire. The address is assigned only once
  // that record is on disk: the grant's actions queue behind the save, a failed save drops
  // them, and halting gives the lease back (`go`). A voter may hear an epoch that a crash
  // then leaves unsaved: this server assigned nothing at it, and after its quiet period it
  // may ask at that epoch again under a new boot nonce (test/unit/model checks such
  // restarts). A claim given up saves the role it returns to (`go`). A crash after the save
  // boots from primary (FIG. 1), and that boot's claim needs a lease too.
  const recorded = s.poweredOff;
  out.push({ type: 'lease-acquire', epoch });
  out.push({
    type: 'persist',
    role: 'primary',
    epoch,
    reason: `claiming: ${reason}`,
    ...poweredOffFields(recorded, s.poweredOffAt),
  });
  out.push({ type: 'set-timer', timer: TIMER.leaseTimeout, atUs: nowUs + c.lease.acquireUs });
  out.push(
    log(
      'info',
      'lease-acquire',
      `asked the voters for the lease at epoch ${epoch}: claiming once a majority grants it`,
      {
        epoch,
      },
    ),
  );
  return {
    ...s,
    role: 'primary',
    epoch,
    lease: { status: 'acquiring', epoch, claim: { reason, after, recorded: { poweredOff: recorded } } },
  };
}

/**
 * The monitor's takeover under the lease gate: the claim waits for the lease alone, and the
 * fences run on their own (outcome logged, an alarm when one fails).
 *
 * Rule: the first takeover of a run of misses asks for the lease before it fences. The
 * voters grant it only once their promises to the holder ran out, that is once the holder
 * stopped renewing and its enforcer dropped the address; then the fence goes out, with the
 * claim. A majority still promised to the holder refuses: the holder renews, so it is alive,
 * and probes lost under load or on the LAN fence nobody. A later run of misses after a
 * refusal (the holder renews its lease but does not answer on the primary address, or too
 * few voters answer) fences at once, so such a holder is still ended by its power; so does
 * an operator's `promote`.
 */
function leaseTakeover(
  c: MachineConfig,
  s: RoleState,
  targets: readonly string[],
  attempt: number,
  window: string,
  nowUs: number,
  out: Action[],
  by: 'misses' | 'operator',
): RoleState {
  // The fence goes out once per takeover: on the lease's grant (a first attempt), or at once
  // on a later one; later retries ask for the lease again and do not power-cycle the server
  // again (that fence is still running, or done).
  const already = s.fence.leaseFenced === true;
  const deferred = by === 'misses' && attempt === 1 && targets.length > 0;
  const now = deferred || already ? [] : targets;
  const names = targets.join(', ');
  const fields = { target: names, misses: s.probe.misses, attempt };
  if (deferred)
    out.push(
      log(
        'warn',
        'primary-silent',
        `${window}; asking the voters for the lease before fencing ${names}: they grant it only once ${names}'s lease ran out`,
        fields,
      ),
    );
  else if (targets.length > 0)
    out.push(
      log(
        'warn',
        'primary-down',
        now.length > 0
          ? by === 'operator'
            ? `promoted by the operator: fencing ${names} at once; the claim waits for the lease`
            : `${window} again after no lease was granted (attempt ${attempt}): fencing ${names} at once; the claim still waits for the lease`
          : `${window} (attempt ${attempt}): asking for the lease again, no new fence of ${names} (one per takeover)`,
        fields,
      ),
    );
  const fence = {
    status: 'running' as const,
    targets,
    pending: [],
    fenced: [],
    attempt,
    ...(deferred ? { afterLease: targets } : {}),
    ...(already || now.length > 0 ? { leaseFenced: true } : {}),
  };
  const issued = deferred
    ? `asking for the lease before fencing ${names}`
    : targets.length === 0
      ? 'no member seen holding it, nobody fenced'
      : now.length > 0
        ? 'fence issued'
        : 'fence issued earlier';
  // The fences and the transition go out after the lease request when one is asked for: the
  // claim waits for the lease alone, and issuing a fence (a BMC command) keeps the executor
  // longer than sending a request does.
  const fences: Action[] = now.map((target) => ({ type: 'fence', id: 0, target, detached: true }));
  const next = go({ ...s, fence }, 'confirming', `${window}; ${issued}, waiting for the lease`, fences);
  const reason =
    targets.length === 1
      ? `took over from ${targets[0] ?? 'nobody'}: a majority confirmed its lease ran out (fence issued)`
      : `took over: a majority confirmed no other lease is live (no member was seen holding the address)`;
  // A deferred takeover goes on probing: an answer before the grant proves the holder alive
  // and ends the claim at once (`onAnswered`), so the monitor votes for it again.
  if (!deferred) stopProbing(fences);
  // A deferred fence (`afterLease`) goes out once the lease is held (`onLease`).
  const release: Action[] = [{ type: 'release', address: 'monitor' }];
  // Rule: a fence that goes out at once (off-on) is in the claim's record, saved before it:
  // a restart powers the member on again, as for a deferred fence (`onLease`).
  const recorded =
    c.fencing.powerCycle === 'off-on' && now.length > 0
      ? {
          ...next,
          poweredOff: [...new Set([...next.poweredOff, ...now])],
          poweredOffAt: { bootId: s.bootId, atUs: nowUs },
        }
      : next;
  if (recorded.lease.status === 'held') {
    // Not expected (a monitor holds no lease); kept in the plain order if it happens.
    out.push(...fences);
    return claimPrimary(c, recorded, nowUs, reason, out, release);
  }
  const claimed = claimPrimary(c, recorded, nowUs, reason, out, release);
  out.push(...fences);
  return claimed;
}
