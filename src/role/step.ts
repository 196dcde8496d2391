import { log } from './actions.js';
import { onDeadMonitorTimer, onPeer, onPeerSilent } from './dead-monitor.js';
import { TIMER } from './timers.js';
import type { TimerName } from './timers.js';
import type { Action, Event, MachineConfig, RoleState, StepResult } from './types.js';
import { onBoot, onBootDelay, onCheckResult } from './boot-steps.js';
import { onPeerHolds } from './defence-steps.js';
import { onHealthResult, onLink, onAssignFailed, onPersistFailed, onPoweredOn } from './failure-steps.js';
import { onFenceResult, onFenceRetry, onFinalSyncEnded } from './fence-steps.js';
import { onLease, onLeaseTimeout } from './lease-steps.js';
import { onCommand, refusal } from './operator-steps.js';
import { go } from './phase.js';
import { onProbeBatch, onProbeFailed, onHolder } from './probe-steps.js';

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
  if (event.type === 'fence-result' && state.fenceIds[event.target] !== event.id)
    return { state, actions: [superseded(state, event)] };
  const out: Action[] = [];
  let next = dispatch(config, state, event, out);
  // Number the checks asked for in this step; a result must name the latest one.
  let checkSeq = next.checkSeq;
  // Number the fences too; a result counts only for the latest fence of its target that is
  // waited for (a detached fence's result never comes back to the machine).
  let fenceSeq = next.fenceSeq;
  let fenceIds = next.fenceIds;
  const actions = out.map((a) => {
    if (a.type === 'check') return { ...a, id: ++checkSeq };
    if (a.type !== 'fence') return a;
    const id = ++fenceSeq;
    if (a.detached !== true) fenceIds = { ...fenceIds, [a.target]: id };
    return { ...a, id };
  });
  if (checkSeq !== next.checkSeq) next = { ...next, checkSeq };
  if (fenceSeq !== next.fenceSeq) next = { ...next, fenceSeq, fenceIds };
  return { state: next, actions };
}

/**
 * The result of a fence that a later fence of the same target replaced (its round was given
 * up: the link went down, the primary answered again, the server rebooted). It says what the
 * power was then, not now: the later fence's own result decides.
 */
function superseded(s: RoleState, e: Extract<Event, { type: 'fence-result' }>): Action {
  const latest = s.fenceIds[e.target];
  const by = latest === undefined ? 'no fence of it is awaited' : `fence ${latest} of it is awaited`;
  return log(
    'info',
    'fence-superseded',
    `the result of fence ${e.id} of ${e.target} (${e.ok ? 'done' : 'failed'}: ${e.detail}) does not count: ${by}`,
    { target: e.target, fenceId: e.id, ...(latest === undefined ? {} : { awaitedId: latest }) },
  );
}

function dispatch(c: MachineConfig, s: RoleState, e: Event, out: Action[]): RoleState {
  switch (e.type) {
    case 'boot':
      return onBoot(c, s, e, out);
    case 'link':
      return onLink(s, e, out);
    case 'persist-failed':
      return onPersistFailed(c, s, e.detail, e.nowUs, out);
    case 'powered-on':
      return onPoweredOn(s, e.target, out);
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
    case 'final-sync-done':
      return onFinalSyncEnded(c, s, { ok: e.ok, detail: e.detail }, out);
  }
}

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
  if (timer === TIMER.finalSync) {
    const limit = `no end within ${Math.round(c.finalSyncUs / 1000)} ms`;
    return onFinalSyncEnded(c, s, { ok: false, detail: limit, timedOut: true }, out);
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
