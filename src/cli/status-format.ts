import type { AgentStatus } from '../agent/index.js';

/** Human-readable status, as `hotspare status` prints it. */
export function formatStatus(s: AgentStatus): string {
  const rtt = s.rttUs;
  const us = (v: number | null): string => (v === null ? '-' : `${Math.round(v)}`);
  const lines = [
    `node ${s.node}: ${s.phase}${s.maintenance ? ' IN MAINTENANCE' : ''} (persisted role ${s.role}, epoch ${s.epoch}), link ${s.linkUp ? 'up' : 'DOWN'}, up ${s.uptimeS} s`,
    `holds: ${s.held.length === 0 ? 'nothing' : s.held.join(', ')}`,
    `primary address ${s.primaryAddress} held by ${s.holder ?? 'unknown'}; misses ${s.misses}; fence ${s.fence.status}${s.fence.target === null ? '' : ` (${s.fence.target}, attempt ${s.fence.attempt})`}`,
    `probes: ${s.probes.probesSent} sent, ${s.probes.replies} answered, ${s.probes.misses} missed, ${s.probes.foreignReplies} foreign replies ignored`,
    `rtt µs over the last ${rtt.window}: min ${us(rtt.min)} median ${us(rtt.median)} p99 ${us(rtt.p99)} max ${us(rtt.max)}`,
    `probe send jitter µs: median ${us(s.probeJitterUs.median)} p99 ${us(s.probeJitterUs.p99)} max ${us(s.probeJitterUs.max)}`,
    `sync: ${s.sync.requested} requested, ${s.sync.completed} done, ${s.sync.failed} failed${s.sync.lastOkAtMs === null ? '' : `; last ok ${new Date(s.sync.lastOkAtMs).toISOString()} (lag ${s.sync.lagMs} ms, ${s.sync.lastFiles} files, ${s.sync.lastBytes} bytes)`}${s.sync.lastError === null ? '' : `; last error: ${s.sync.lastError}`}${s.sync.serving ? '; serving' : ''}`,
    'last transitions:',
    ...s.transitions.map(
      (t) => `  ${new Date(t.atMs).toISOString()} ${t.from} -> ${t.to} (epoch ${t.epoch}): ${t.reason}`,
    ),
  ];
  return lines.join('\n');
}
