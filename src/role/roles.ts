/** Entering a role: primary, monitor, spare, or persisting a new role and re-entering boot. */
import type { PersistedRole } from '../../hal/store/index.js';
import { nextRandom } from '../../hal/base/random.js';
import { poweredOffFields } from './actions.js';
import { TIMER } from './timers.js';
import type { Action, MachineConfig, RoleState } from './types.js';
import { freshProbe, startProbing, nextEpoch, go, idleFence } from './phase.js';

export function becomePrimary(
  c: MachineConfig,
  s: RoleState,
  nowUs: number,
  reason: string,
  out: Action[],
  after: readonly Action[],
  recorded?: { poweredOff: readonly string[] },
): RoleState {
  // Under the lease gate the claim's epoch is the one the majority granted.
  const epoch = s.lease.status === 'held' ? s.lease.epoch : nextEpoch(s);
  // A lease claim saved this very record before asking (`claimPrimary`): not again.
  const onDisk =
    recorded !== undefined &&
    s.role === 'primary' &&
    s.epoch === epoch &&
    recorded.poweredOff.length === s.poweredOff.length &&
    recorded.poweredOff.every((name, i) => s.poweredOff[i] === name);
  if (!onDisk)
    out.push({ type: 'persist', role: 'primary', epoch, reason, ...poweredOffFields(s.poweredOff, s.poweredOffAt) });
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

export function becomeMonitor(c: MachineConfig, s: RoleState, nowUs: number, reason: string, out: Action[]): RoleState {
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

export function enterSpare(
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
  if (how.recheck !== true) {
    // Rule: a spare holds no cluster address, also none left in the kernel by an agent that
    // died (its heartbeat says "spare, holding nothing", which a monitor relies on).
    out.push({ type: 'release', address: 'primary' }, { type: 'release', address: 'monitor' });
    out.push({ type: 'hook', hook: 'on_spare' });
  }
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

export function persistAndReboot(s: RoleState, role: PersistedRole, reason: string, out: Action[]): RoleState {
  const epoch = nextEpoch(s);
  out.push({ type: 'persist', role, epoch, reason });
  out.push({ type: 'reboot', reason });
  return go({ ...s, role, epoch }, 'booting', `${reason}: persisted role ${role}, rebooting`, out);
}
