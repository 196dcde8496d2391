/** Operator commands (maintenance shell, control socket), and why one is refused. */
import { log } from './actions.js';
import { TIMER } from './timers.js';
import type { Action, Event, MachineConfig, OperatorCommand, RoleState } from './types.js';
import { startFence } from './fence-steps.js';
import { freshProbe, startProbing, cancelAll, nextEpoch, go, idleFence } from './phase.js';
import { enterSpare, persistAndReboot } from './roles.js';

export function onCommand(
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
        // Under the lease gate the fence goes out at once too: the operator's word, not a
        // lease that a live holder would keep renewing, decides.
        return startFence(c, { ...s, maintenance: false }, nowUs, out, 'operator');
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
export function refusal(s: RoleState, command: OperatorCommand): string | null {
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
