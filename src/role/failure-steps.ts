/**
 * Local failures: the link, a failed health check, a failed address assignment, a failed persist.
 */
import { log, offMayBePending, powerOn, poweredOffFields } from './actions.js';
import { TIMER } from './timers.js';
import type { Action, Event, MachineConfig, RoleState } from './types.js';
import { HALT_RETRY_US, freshProbe, cancelAll, nextEpoch, go, onLost, idleFence } from './phase.js';
import { enterSpare } from './roles.js';

export function onHealthResult(
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

export function onLink(s: RoleState, e: Extract<Event, { type: 'link' }>, out: Action[]): RoleState {
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
export function onAssignFailed(
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
  if (c.fencing.powerCycle === 'off-on')
    powerOn(
      s.poweredOff,
      'the takeover could not assign the address',
      out,
      offMayBePending(c, s.poweredOffAt, s.bootId, e.nowUs),
    );
  out.push({ type: 'reboot', reason: `assigning the ${e.address} address failed` });
  const next = go(s, 'booting', `assigning the ${e.address} address failed: ${e.detail}; rebooting`, out);
  return { ...next, poweredOff: [], fence: idleFence(), probe: freshProbe(e.nowUs) };
}

export function onPersistFailed(
  c: MachineConfig,
  s: RoleState,
  detail: string,
  nowUs: number,
  out: Action[],
): RoleState {
  // Rule: never act on a role change that is not on disk. Hold nothing, take no part.
  out.push({ type: 'release', address: 'primary' });
  out.push({ type: 'release', address: 'monitor' });
  onLost(s, out);
  cancelAll(out);
  out.push(log('error', 'persist-failed', `could not persist the role record: ${detail}; halted, holding no address`));
  // Rule: servers fenced for a takeover that cannot happen are powered on again, so the
  // cluster is not left with nobody (they boot and decide again).
  if (c.fencing.powerCycle === 'off-on')
    powerOn(
      [...new Set([...s.poweredOff, ...s.fence.fenced])],
      'this server cannot persist its role',
      out,
      offMayBePending(c, s.poweredOffAt, s.bootId, nowUs),
    );
  const next = go(s, 'halted', `persisting failed: ${detail}`, out);
  out.push({ type: 'set-timer', timer: TIMER.haltRetry, atUs: nowUs + HALT_RETRY_US });
  return { ...next, poweredOff: [], fence: idleFence() };
}

/**
 * Rule: the role record lists a fenced member only until its power-on is confirmed, so that
 * a restart later neither powers it on again nor waits for its power to read off (it runs,
 * and an off read then would be someone else's). Saved at a new epoch where the phase and
 * the role agree (primary, monitor, spare); during a claim or a check only the state drops
 * it, and the next save carries the shorter list.
 */
export function onPoweredOn(s: RoleState, target: string, out: Action[]): RoleState {
  if (!s.poweredOff.includes(target)) return s;
  const poweredOff = s.poweredOff.filter((name) => name !== target);
  const settled = s.phase === 'primary' || s.phase === 'monitor' || s.phase === 'spare';
  if (!settled || s.phase !== s.role) return { ...s, poweredOff };
  const epoch = nextEpoch(s);
  out.push({
    type: 'persist',
    role: s.role,
    epoch,
    reason: `${target} powered on again`,
    ...poweredOffFields(poweredOff, s.poweredOffAt),
  });
  return { ...s, epoch, poweredOff };
}
