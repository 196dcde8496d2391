import type { AgentStatus } from '../agent/index.js';
import { formatAttempt } from '../shell/format.js';

/** Human-readable status, as `hotspare status` prints it. */
export function formatStatus(s: AgentStatus): string {
  const rtt = s.rttUs;
  const us = (v: number | null): string => (v === null ? '-' : `${Math.round(v)}`);
  const lines = [
    `node ${s.node}: ${s.phase}${s.maintenance ? ' IN MAINTENANCE' : ''} (persisted role ${s.role}, epoch ${s.epoch}), link ${s.linkUp ? 'up' : 'DOWN'}, up ${s.uptimeS} s${s.version === undefined ? '' : `, hotspare ${s.version}`}`,
    `holds: ${s.held.length === 0 ? 'nothing' : s.held.join(', ')}`,
    `primary address ${s.primaryAddress} held by ${s.holder ?? 'unknown'}; misses ${s.misses}; fence ${s.fence.status}${s.fence.target === null ? '' : ` (${s.fence.target}, attempt ${s.fence.attempt})`}`,
    `probes: ${s.probes.probesSent} sent, ${s.probes.replies} answered, ${s.probes.misses} missed, ${s.probes.foreignReplies} foreign replies ignored`,
    `rtt µs over the last ${rtt.window}: min ${us(rtt.min)} median ${us(rtt.median)} p99 ${us(rtt.p99)} max ${us(rtt.max)}`,
    `probe send jitter µs: median ${us(s.probeJitterUs.median)} p99 ${us(s.probeJitterUs.p99)} max ${us(s.probeJitterUs.max)}`,
    `sync: ${s.sync.requested} requested, ${s.sync.completed} done, ${s.sync.failed} failed${s.sync.lastOkAtMs === null ? '' : `; last ok ${new Date(s.sync.lastOkAtMs).toISOString()} (lag ${s.sync.lagMs} ms, ${s.sync.lastFiles} files, ${s.sync.lastBytes} bytes)`}${s.sync.lastError === null ? '' : `; last error: ${s.sync.lastError}`}${s.sync.serving ? '; serving' : ''}`,
    ...peerLines(s),
    ...leaseLines(s),
    ...(s.fenceHistory.length === 0
      ? ['fence history: none']
      : ['fence history:', ...s.fenceHistory.map((a) => `  ${formatAttempt(a)}`)]),
    'last transitions:',
    ...s.transitions.map(
      (t) => `  ${new Date(t.atMs).toISOString()} ${t.from} -> ${t.to} (epoch ${t.epoch}): ${t.reason}`,
    ),
  ];
  return lines.join('\n');
}

/** The peer heartbeat: per member, how long ago each path heard it and what it said. */
function peerLines(s: AgentStatus): string[] {
  const p = s.peers;
  if (p === null) return ['peers: heartbeat off (peer.key_file not set)'];
  const dropped = Object.entries(p.dropped)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  const path = (name: string, v: { heardMsAgo: number | null; silent: boolean } | null): string =>
    v === null
      ? `${name} -`
      : `${name} ${v.heardMsAgo === null ? 'never heard' : `${v.heardMsAgo} ms ago`}${v.silent ? ' SILENT' : ''}`;
  return [
    `peers: every ${p.intervalMs} ms on port ${p.port}, silent after ${p.deadAfterMs} ms; ${p.sent} sent, ${p.accepted} accepted of ${p.received}${dropped.length === 0 ? '' : `, dropped: ${dropped.join(', ')}`}; highest epoch ${p.highest === null ? '-' : `${p.highest.epoch} (${p.highest.node})`}`,
    ...p.members.map(
      (m) =>
        `  ${m.node}: ${path('lan', m.lan)}, ${path('mgmt', m.mgmt)}; says ${m.phase ?? '-'} (role ${m.role ?? '-'}, epoch ${m.epoch ?? '-'})${m.holdsPrimary ? ' holds primary' : ''}${m.holdsMonitor ? ' holds monitor' : ''}`,
    ),
  ];
}

/** The lease gate's service (only with `fencing.gate: lease`): this server as holder and voter. */
function leaseLines(s: AgentStatus): string[] {
  const l = s.lease;
  if (l === null) return [];
  const h = l.holder;
  const holder =
    h === null
      ? 'no lease of its own'
      : `${h.held ? 'holds' : 'claims'} the lease at epoch ${h.epoch}${h.msLeft === null ? '' : `, ${h.msLeft} ms left`}`;
  const v = l.voter;
  const voter = `${v.promisedTo === null ? 'promised to nobody' : `promised to ${v.promisedTo} for ${v.promiseMsLeft ?? 0} ms`}${v.quietMsLeft > 0 ? `, quiet ${v.quietMsLeft} ms more after its start` : ''}`;
  const late =
    l.lateRequests === 0 ? 'no request late' : `${l.lateRequests} requests late (worst ${l.worstLateMs ?? 0} ms)`;
  return [
    `lease: ${holder}; ${late}; as voter ${voter}, ${l.grantsSent} grants and ${l.refusalsSent} refusals sent, ${l.dropped} frames dropped`,
  ];
}
