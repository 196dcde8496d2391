/**
 * The campaign's report: report.json (every check and every fault), report.md (the figures
 * and every violation in words), timeline.svg (faults, holders and outages) and
 * record.json.gz (the raw ground truth the checks ran on, without the observer's replies).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import type { Checks } from './checks.js';
import { OUTAGE_GAP_MS, CAUSE_WINDOW_MS, FORGED_ARP_WINDOW_MS, GATE_ACCEPTS } from './checks.js';
import type { CampaignRecord } from './records.js';
import { timelineSvg } from './timeline-svg.js';

/** Ms since the campaign started, rounded to 0.1 ms. */
function rel(record: CampaignRecord, atUs: number): number {
  return Math.round((atUs - record.startUs) / 100) / 10;
}

function fmt(ms: number | null): string {
  if (ms === null) return '—';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.round(ms)} ms`;
}

function clock(record: CampaignRecord, atUs: number): string {
  const s = (atUs - record.startUs) / 1e6;
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
}

export function reportJson(record: CampaignRecord, checks: Checks, command: string): unknown {
  const r = (atUs: number): number => rel(record, atUs);
  return {
    seed: record.seed,
    gate: record.gate,
    gateInConfig: record.gateInConfig,
    replay: command,
    startedAt: record.startedAt,
    spanS: Math.round(checks.spanMs / 100) / 10,
    config: record.config,
    summary: {
      faultsInjected: checks.faults.done,
      faultsFailed: checks.faults.failed,
      faultsSkipped: checks.faults.skipped,
      splitBrainIntervals: checks.splitBrain.intervals.length,
      splitBrainMs: checks.splitBrain.totalMs,
      takeovers: checks.takeovers.checks.length,
      takeoverGateViolations: checks.takeovers.violations,
      claims: checks.claims,
      lostAcknowledgedVersions: checks.sync.lostVersions,
      lostAcknowledgedVersionsAfterSync: checks.sync.lostVersionsAfterSync,
      tornFiles: checks.torn.length,
      availabilityPercent: checks.availability.percent,
      longestOutageMs: checks.availability.longestMs,
      failovers: checks.failovers.list.length,
      spuriousFailovers: checks.failovers.spurious,
      forgedArpDetections: checks.forgedArp.followed.length,
      unexpectedAgentExits: checks.agentExits.length,
      fatal: checks.fatal.length,
    },
    faults: checks.faults,
    faultList: record.faults.map((f) => ({
      ...f,
      startMs: r(f.startUs),
      appliedMs: f.appliedUs === 0 ? null : r(f.appliedUs),
      endMs: f.endUs === 0 ? null : r(f.endUs),
      startUs: undefined,
      appliedUs: undefined,
      endUs: undefined,
    })),
    splitBrain: checks.splitBrain.intervals.map((v) => ({
      ...v,
      startMs: r(v.startUs),
      endMs: v.endUs === null ? null : r(v.endUs),
    })),
    takeovers: checks.takeovers.checks.map((t) => ({ ...t, atMs: r(t.atUs) })),
    sync: {
      ...checks.sync,
      lost: checks.sync.lost.map((l) => ({ ...l, atMs: r(l.atUs) })),
      windows: checks.sync.windows.map((w) => ({ ...w, atMs: r(w.atUs) })),
    },
    torn: checks.torn.map((t) => ({ ...t, atMs: r(t.atUs) })),
    availability: {
      ...checks.availability,
      outageGapMs: OUTAGE_GAP_MS,
      outages: checks.availability.outages.map((o) => ({ fromMs: r(o.fromUs), toMs: r(o.toUs), ms: o.ms })),
    },
    recovery: checks.recovery,
    failovers: checks.failovers.list.map((f) => ({ ...f, atMs: r(f.atUs) })),
    agentExits: checks.agentExits.map((e) => ({ ...e, atMs: r(e.atUs) })),
    fatal: checks.fatal.map((e) => ({ ...e, atMs: r(e.atUs) })),
    anomalies: checks.anomalies.map((a) => ({ ...a, atMs: r(a.atUs) })),
  };
}

export function reportMarkdown(record: CampaignRecord, checks: Checks, command: string): string {
  const s = checks;
  const out: string[] = [];
  const c = (atUs: number): string => clock(record, atUs);
  out.push(`# Fault campaign: gate \`${record.gate}\`, seed ${record.seed}`);
  out.push('');
  out.push(
    `Started ${record.startedAt}, ${(s.spanMs / 60_000).toFixed(1)} min of faults and recovery, 3 servers (real agents, ipmi_sim BMCs, bridge switch, 5 ms observer). Replay the same schedule: \`${command}\`.${record.gateInConfig ? '' : ' This build has no `fencing.gate` key: the agents ran the implicit `confirmed` gate.'}`,
  );
  out.push('');
  out.push('| check | result |');
  out.push('|---|---|');
  out.push(
    `| faults injected (failed, skipped for want of a free target) | ${s.faults.done} (${s.faults.failed}, ${s.faults.skipped}) |`,
  );
  out.push(
    `| instants with two connected holders of the primary address | ${s.splitBrain.intervals.length} (${fmt(s.splitBrain.totalMs)} in all) |`,
  );
  out.push(
    `| takeovers not preceded by what the ${record.gate} gate requires (${GATE_ACCEPTS[record.gate].join(' / ')}) | ${s.takeovers.violations} of ${s.takeovers.checks.length} |`,
  );
  out.push(
    `| acknowledged file versions lost on a later primary | ${s.sync.lostVersions} (in ${s.sync.lost.length} file(s) at a change of primary); of which with a sync completed by the new primary as monitor: ${s.sync.lostVersionsAfterSync} |`,
  );
  const windows = s.sync.windows.filter((w) => w.unsyncedWrites > 0);
  const windowMs = windows.map((w) => w.windowMs).sort((a, b) => a - b);
  out.push(
    `| data-loss window (writes not yet synced at a change of primary) | ${windows.length} of ${s.sync.windows.length} changes lost ${windows.reduce((n, w) => n + w.unsyncedWrites, 0)} unsynced write(s); window median ${fmt(windowMs[Math.floor(windowMs.length / 2)] ?? null)}, max ${fmt(windowMs.at(-1) ?? null)} |`,
  );
  out.push(`| torn files (any copy, any time) | ${s.torn.length} |`);
  out.push(
    `| availability of the primary address (observer; gaps over ${OUTAGE_GAP_MS} ms are outage) | ${s.availability.percent.toFixed(3)} % |`,
  );
  out.push(
    `| longest outage | ${fmt(s.availability.longestMs)} (${s.availability.outages.length} outages, ${fmt(s.availability.totalOutageMs)} in all) |`,
  );
  out.push(`| changes of primary (failovers) / spurious | ${s.failovers.list.length} / ${s.failovers.spurious} |`);
  out.push(
    `| forged ARPs followed within ${FORGED_ARP_WINDOW_MS} ms by a monitor confirming a failure (by chance) | ${s.forgedArp.followed.length} of ${s.forgedArp.faults} (${s.forgedArp.byChance.toFixed(1)}) |`,
  );
  out.push(
    `| file writes (failed: disk full, ...) / versions acknowledged | ${s.sync.writes} (${s.sync.writesFailed}) / ${s.sync.acknowledged} |`,
  );
  out.push(`| agent exits the campaign did not cause / fatal errors | ${s.agentExits.length} / ${s.fatal.length} |`);
  out.push(`| harness anomalies | ${s.anomalies.length} |`);
  out.push('');
  out.push('## Faults and recovery');
  out.push('');
  out.push(
    "Recovery: from the fault's removal (an instant fault: its injection) until the primary address answers the observer and exactly one server holds each of the primary and monitor addresses (ground truth, 200 ms samples). Faults overlap, so a recovery can include the effects of the next fault.",
  );
  out.push('');
  out.push('| fault | injected | failed | skipped | recovery p50 | p95 | max | not recovered |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const [kind, count] of Object.entries(s.faults.byKind).sort()) {
    const rec = s.recovery.byKind[kind];
    out.push(
      `| ${kind} | ${count.done} | ${count.failed} | ${count.skipped} | ${fmt(rec?.p50 ?? null)} | ${fmt(rec?.p95 ?? null)} | ${fmt(rec?.max ?? null)} | ${rec?.unrecovered ?? 0} |`,
    );
  }
  const failedFaults = record.faults.filter((f) => f.status === 'failed');
  if (failedFaults.length > 0) {
    out.push('');
    out.push('Faults that could not be injected or undone (first 20):');
    out.push('');
    for (const f of failedFaults.slice(0, 20))
      out.push(`- #${f.id} ${f.kind} ${f.target ?? ''} at ${c(f.startUs)}: ${f.detail}`);
  }
  out.push('');
  out.push('## Takeovers');
  out.push('');
  const bases = new Map<string, number>();
  for (const t of s.takeovers.checks) bases.set(t.basis, (bases.get(t.basis) ?? 0) + 1);
  out.push(
    `${s.takeovers.checks.length} takeovers (confirming -> primary), by basis: ${[...bases].map(([b, n]) => `${b} ${n}`).join(', ') || 'none'}.`,
  );
  for (const t of s.takeovers.checks.filter((x) => !x.ok)) {
    out.push(`- **${c(t.atUs)} ${t.server}**: ${t.problems.join('; ')} (its log: "${t.reason}")`);
  }
  out.push('');
  out.push('## Two connected holders');
  out.push('');
  if (s.splitBrain.intervals.length === 0) out.push('None.');
  for (const v of s.splitBrain.intervals)
    out.push(
      `- ${c(v.startUs)} for ${fmt(v.ms)}: ${v.servers.join(' and ')}; faults active: ${v.faults.join(', ') || 'none'}`,
    );
  out.push('');
  out.push('## Replicated files');
  out.push('');
  out.push(
    "The campaign writes one of 8 files twice every 200 ms on the server that holds the primary address (ground truth), atomically (temporary file, rename). A version is *acknowledged* once it is seen on another server's disk (polled every 200 ms, so an acknowledgement is seen up to 200 ms late). At every change of holder the new holder's files are read before anything is written to it.",
  );
  out.push('');
  if (s.sync.lost.length === 0) out.push('No acknowledged version was missing on a later primary.');
  for (const l of s.sync.lost.slice(0, 30))
    out.push(
      `- ${c(l.atUs)} new primary ${l.server} lacks acknowledged ${l.file} version(s) ${l.versions.join(', ')}${l.neverSynced ? ' (it had completed no sync as monitor: known limit)' : ''}`,
    );
  if (s.torn.length > 0) {
    out.push('');
    for (const t of s.torn.slice(0, 30)) out.push(`- torn: ${t.server}/${t.file} at ${c(t.atUs)}: ${t.why}`);
  }
  out.push('');
  out.push('## Failovers');
  out.push('');
  out.push(
    `A change of primary is explained when a fault on the old primary (or a power cycle of all servers) was active within ${CAUSE_WINDOW_MS / 1000} s before it; otherwise it is counted spurious, with the faults that were active meanwhile.`,
  );
  out.push('');
  for (const f of s.failovers.list.filter((x) => x.spurious))
    out.push(`- spurious: ${c(f.atUs)} ${f.from} -> ${f.to}; active meanwhile: ${f.during.join(', ') || 'nothing'}`);
  if (s.failovers.spurious === 0) out.push('No spurious failover.');
  out.push('');
  out.push(
    `Forged ARP: a monitor that enters \`confirming\` within ${FORGED_ARP_WINDOW_MS} ms of a stranger's forged ARP most likely missed a healthy primary because its ARP entry was repointed (the rule above would count the failover that follows as explained). ${s.forgedArp.followed.length} of ${s.forgedArp.faults} forged ARPs were followed so; ${s.forgedArp.byChance.toFixed(1)} would be by chance at this run's rate of detections.`,
  );
  for (const f of s.forgedArp.followed.slice(0, 20))
    out.push(`- forged ARP #${f.fault}: ${f.server} confirming ${f.afterMs.toFixed(0)} ms later`);
  out.push('');
  out.push('## Agents');
  out.push('');
  if (s.agentExits.length === 0 && s.fatal.length === 0) out.push('No agent exited on its own; no fatal error.');
  for (const e of s.agentExits.slice(0, 20))
    out.push(`- ${e.server} exited on its own at ${c(e.atUs)}: code ${String(e.code)}, signal ${String(e.signal)}`);
  for (const e of s.fatal.slice(0, 20)) out.push(`- fatal on ${e.server} at ${c(e.atUs)}: ${e.message}`);
  for (const a of s.anomalies.slice(0, 20)) out.push(`- harness: ${a.server ?? ''} at ${c(a.atUs)}: ${a.what}`);
  out.push('');
  out.push('![timeline](timeline.svg)');
  out.push('');
  return out.join('\n');
}

/** Writes the four files; returns a short summary for the terminal. */
export async function writeReport(
  dir: string,
  record: CampaignRecord,
  checks: Checks,
  command: string,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(reportJson(record, checks, command), null, 1)}\n`);
  const markdown = reportMarkdown(record, checks, command);
  await writeFile(join(dir, 'report.md'), markdown);
  await writeFile(join(dir, 'timeline.svg'), timelineSvg(record, checks));
  await writeFile(join(dir, 'record.json.gz'), gzipSync(JSON.stringify(packRecord(record))));
  return markdown.split('\n').slice(0, 20).join('\n');
}

/**
 * The record as saved: the observer's replies as deltas (µs) and server indexes, so a run of
 * half a million replies stays small; `loadRecord` undoes it.
 */
export function packRecord(record: CampaignRecord): unknown {
  const names = record.servers;
  let previous = record.startUs;
  const dt: number[] = [];
  const who: number[] = [];
  for (const reply of record.replies) {
    dt.push(Math.round(reply.t - previous));
    previous += Math.round(reply.t - previous);
    who.push(reply.server === null ? -1 : names.indexOf(reply.server));
  }
  return { ...record, replies: undefined, packedReplies: { dt, who } };
}

export async function loadRecord(file: string): Promise<CampaignRecord> {
  const value = JSON.parse(gunzipSync(await readFile(file)).toString('utf8')) as CampaignRecord & {
    packedReplies?: { dt: number[]; who: number[] };
  };
  const packed = value.packedReplies;
  const replies: CampaignRecord['replies'] = [];
  if (packed !== undefined) {
    let t = value.startUs;
    packed.dt.forEach((dt, i) => {
      t += dt;
      const index = packed.who[i] ?? -1;
      replies.push({ t, server: index < 0 ? null : (value.servers[index] ?? null) });
    });
  }
  delete value.packedReplies;
  return { ...value, replies };
}
