/**
 * The dead-monitor rule (issue 11): a monitor whose agent was killed keeps the monitor
 * address in its kernel, so it answers ping, no spare steps in, and failover is off for good.
 * The primary hears authenticated heartbeats from every member; when the member that said it
 * holds the monitor address goes silent on every path, the primary waits longer than that
 * monitor would need to detect a dead primary, fence it and confirm (so a monitor that is
 * alive but cut off from us wins any race), then checks the monitor address: if that member's
 * MAC still answers there, its kernel lives without its agent, and the primary fences its
 * server (off, then on again: it reboots with a fresh agent). A spare can then take the
 * monitor address.
 */
import { log, powerOn } from './actions.js';
import { TIMER } from './timers.js';
import { detectionUs } from './windows.js';
import type { Action, Event, MachineConfig, PeerView, RoleState } from './types.js';

/**
 * A monitor address that nobody answers on is checked again this often, for this long after
 * the wait, before the primary takes the monitor's server for off (one unanswered check on a
 * loaded machine must not end the rule for good: the dead agent's kernel would keep the
 * address and failover would stay off).
 */
const RECHECK_EVERY_US = 1_000_000;
const RECHECK_FOR_US = 2_000_000;

/** How long the primary waits after the monitor fell silent on every path. */
export function deadMonitorWaitUs(c: MachineConfig): number {
  return detectionUs(c) + c.fencing.powerTimeoutUs + c.fencing.confirmUs + 1_000_000;
}

export function freshPeers(): PeerView {
  return {
    monitor: null,
    primary: null,
    phases: {},
    roles: {},
    silent: {},
    deadSinceUs: null,
    fencing: false,
    highestEpoch: 0,
    heardUs: {},
  };
}

/**
 * The member heard (authenticated, on some path, not silent on all) saying it holds the
 * primary address, or null. A silent check cannot outvote it: its switch port may be silent.
 */
export function heardPrimaryHolder(c: MachineConfig, view: PeerView): string | null {
  const holder = view.primary;
  if (holder === null || holder === c.self) return null;
  return silentEverywhere(c, view, holder) ? null : holder;
}

/**
 * Other members that a claim from silence cannot rule out as holders of the primary address
 * (a frozen server, or one behind a silent switch port, holds it where no check hears it):
 * `silent`: not heard on any path now (never heard since this agent started, or heard and
 * then silent for `peer.dead_after_ms` on every path); `pending`: never heard yet, but not
 * yet declared silent (the heartbeat gives every member `dead_after_ms` from its start).
 * Members heard and not silent everywhere say what they hold; `heardPrimaryHolder` covers
 * those that say they hold it.
 */
export function unheardMembers(c: MachineConfig, view: PeerView): { silent: string[]; pending: string[] } {
  const silent: string[] = [];
  const pending: string[] = [];
  for (const [node, paths] of Object.entries(c.peer?.paths ?? {})) {
    if (node === c.self || paths.length === 0) continue;
    if (silentEverywhere(c, view, node)) silent.push(node);
    else if (view.phases[node] === undefined) pending.push(node);
  }
  return { silent: silent.sort(), pending: pending.sort() };
}

/**
 * Whether `node` told us, authenticated and recently (heard on some path, not silent on
 * all), that it gave the primary address up on purpose (demoted, or its health check
 * failed: it is a spare now): a handover without a power cut. A primary that lost its link
 * or halted released the address too, but is fenced as before: it did not choose to.
 */
export function releasedPrimary(c: MachineConfig, view: PeerView, node: string): boolean {
  if (c.peer === null || view.primary === node || view.phases[node] !== 'spare') return false;
  return !silentEverywhere(c, view, node);
}

function silentEverywhere(c: MachineConfig, view: PeerView, node: string): boolean {
  const paths = c.peer?.paths[node] ?? [];
  const silent = view.silent[node] ?? [];
  return paths.length > 0 && paths.every((p) => silent.includes(p));
}

export function onPeer(c: MachineConfig, s: RoleState, e: Extract<Event, { type: 'peer' }>, out: Action[]): RoleState {
  const silent = { ...s.peers.silent, [e.node]: (s.peers.silent[e.node] ?? []).filter((p) => p !== e.path) };
  const monitor = e.holdsMonitor ? e.node : s.peers.monitor === e.node ? null : s.peers.monitor;
  const primary = e.holdsPrimary ? e.node : s.peers.primary === e.node ? null : s.peers.primary;
  const highestEpoch = Math.max(s.peers.highestEpoch, e.epoch);
  const phases = { ...s.peers.phases, [e.node]: e.phase };
  const roles = { ...s.peers.roles, [e.node]: e.role };
  const heardUs = { ...s.peers.heardUs, [e.node]: e.nowUs };
  let view: PeerView = { ...s.peers, silent, monitor, primary, phases, roles, highestEpoch, heardUs };
  if (s.peers.deadSinceUs !== null && !silentEverywhere(c, view, s.peers.monitor ?? '')) {
    // Rule: a monitor heard again is alive; whatever silenced it, nothing to do.
    out.push(log('info', 'monitor-agent-back', `${e.node} is heard again on ${e.path}; not fencing it`));
    out.push({ type: 'cancel-timer', timer: TIMER.deadMonitor });
    view = { ...view, deadSinceUs: null };
  }
  return { ...s, peers: view };
}

export function onPeerSilent(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'peer-silent' }>,
  out: Action[],
): RoleState {
  const before = s.peers.silent[e.node] ?? [];
  const silent = { ...s.peers.silent, [e.node]: before.includes(e.path) ? before : [...before, e.path] };
  const view: PeerView = { ...s.peers, silent };
  const next = { ...s, peers: view };
  if (s.phase !== 'primary' || s.maintenance || view.monitor !== e.node || view.deadSinceUs !== null) return next;
  if (!silentEverywhere(c, view, e.node)) return next;
  const waitUs = deadMonitorWaitUs(c);
  out.push(
    log(
      'warn',
      'monitor-agent-silent',
      `the monitor ${e.node} sends no heartbeat on any path; if its address still answers in ${Math.round(waitUs / 1000)} ms, its agent is dead and its server will be fenced`,
      { monitor: e.node, waitMs: Math.round(waitUs / 1000) },
    ),
  );
  out.push({ type: 'set-timer', timer: TIMER.deadMonitor, atUs: e.nowUs + waitUs });
  return { ...next, peers: { ...view, deadSinceUs: e.nowUs } };
}

/** The wait is over (or a check went unanswered): look at the monitor address again. */
export function onDeadMonitorTimer(c: MachineConfig, s: RoleState, nowUs: number, out: Action[]): RoleState {
  const monitor = s.peers.monitor;
  if (s.phase !== 'primary' || s.peers.deadSinceUs === null || s.peers.fencing || monitor === null) return s;
  if (!silentEverywhere(c, s.peers, monitor)) return { ...s, peers: { ...s.peers, deadSinceUs: null } };
  out.push({ type: 'check', id: 0, address: 'monitor', windowUs: c.boot.checkUs });
  // A watchdog: if this check's answer is superseded by another check, ask again.
  out.push({ type: 'set-timer', timer: TIMER.deadMonitor, atUs: nowUs + Math.max(c.fencing.retryUs, 1_000_000) });
  return s;
}

/** The answer about the monitor address while the monitor's agent is taken for dead. */
export function onDeadMonitorCheck(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): RoleState {
  const monitor = s.peers.monitor;
  if (s.peers.deadSinceUs === null || s.peers.fencing || monitor === null) return s;
  const mac = c.members.find((m) => m.name === monitor)?.mac.toLowerCase() ?? '';
  const answered = e.evidence.some((x) => x.startsWith('arp-') && x.toLowerCase().includes(mac));
  out.push({ type: 'cancel-timer', timer: TIMER.deadMonitor });
  const nobody = !e.evidence.some((x) => x.startsWith('arp-'));
  if (!answered && nobody && e.nowUs - s.peers.deadSinceUs - deadMonitorWaitUs(c) < RECHECK_FOR_US) {
    out.push(
      log('info', 'monitor-check-silent', `nobody answered on the monitor address of ${monitor}; checking again`, {
        monitor,
      }),
    );
    out.push({ type: 'set-timer', timer: TIMER.deadMonitor, atUs: e.nowUs + RECHECK_EVERY_US });
    return s;
  }
  if (!answered) {
    // Its server is off, or another member holds the address now: spares take care of it.
    out.push(
      log(
        'info',
        'monitor-gone',
        `the monitor address no longer answers from ${monitor} (${e.evidence.join(', ') || 'silent'}); not fencing it`,
      ),
    );
    return { ...s, peers: { ...s.peers, deadSinceUs: null, monitor: null } };
  }
  out.push(
    log(
      'error',
      'monitor-agent-dead',
      `${monitor} holds the monitor address but its agent sent no heartbeat for ${Math.round((e.nowUs - s.peers.deadSinceUs) / 1000)} ms: fencing its server so it reboots and a spare can step in`,
      { monitor },
    ),
  );
  out.push({ type: 'fence', id: 0, target: monitor });
  return { ...s, peers: { ...s.peers, fencing: true } };
}

/** The fence of a dead monitor's server answered. */
export function onDeadMonitorFenced(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'fence-result' }>,
  out: Action[],
): RoleState {
  if (!s.peers.fencing || e.target !== s.peers.monitor) return s;
  if (!e.ok) {
    out.push(
      log(
        'error',
        'monitor-fence-failed',
        `fencing the dead monitor ${e.target} (fence ${e.id}) failed: ${e.detail}; retrying`,
        { target: e.target, fenceId: e.id },
      ),
    );
    out.push({ type: 'set-timer', timer: TIMER.deadMonitor, atUs: e.nowUs + c.fencing.retryUs });
    return { ...s, peers: { ...s.peers, fencing: false } };
  }
  out.push(
    log('warn', 'monitor-fenced', `fenced the dead monitor ${e.target} (fence ${e.id}: ${e.detail})`, {
      target: e.target,
      fenceId: e.id,
    }),
  );
  if (c.fencing.powerCycle === 'off-on') powerOn([e.target], 'its agent was dead; it reboots with a fresh one', out);
  return { ...s, peers: { ...s.peers, fencing: false, deadSinceUs: null, monitor: null } };
}
