/**
 * Text the shell prints: pure functions of what the agent reports. ASCII only (a dumb
 * terminal may not speak UTF-8): microseconds are "us". Lines end in "\n"; the session
 * turns them into CRLF for the terminal.
 */
import type {
  AgentStatus,
  CommandOutcome,
  EchoResult,
  FenceAttempt,
  PowerReading,
  SampleSummary,
  SyncResult,
  Transition,
} from '../agent/index.js';
import type { SyncStatus } from '../agent/status.js';
import type { LogLine } from '../log/index.js';
import { CATALOG, KEYS_HELP, specOf } from './catalog.js';

export function formatStatus(s: AgentStatus): string {
  const primaryHolder = s.held.includes(s.primaryAddress) ? `${s.node} (this server)` : (s.holder ?? 'unknown');
  return lines([
    row('node', s.node),
    row('role', s.role),
    row('phase', s.maintenance ? `${s.phase} (MAINTENANCE: deciding nothing)` : s.phase),
    row('epoch', String(s.epoch)),
    row('link', s.linkUp ? 'up' : 'DOWN'),
    row('held', s.held.length === 0 ? 'nothing' : s.held.join(', ')),
    row('primary', `${s.primaryAddress} held by ${primaryHolder}`),
    row('peer rtt', `${summary(s.rttUs)} (us, last ${s.rttUs.window} replies)`),
    row(
      'misses',
      `${s.misses} in a row; ${s.probes.misses} in all (${s.probes.probesSent} probes, ${s.probes.replies} replies, ${s.probes.foreignReplies} foreign ignored)`,
    ),
    row('jitter', `${summary(s.probeJitterUs)} (us, probe send lateness)`),
    row(
      'fence',
      s.fence.target === null ? s.fence.status : `${s.fence.status} ${s.fence.target} (attempt ${s.fence.attempt})`,
    ),
    ...fenceHistoryRows(s.fenceHistory),
    row('last sync', lastSync(s.sync)),
    row('uptime', `${s.uptimeS} s`),
  ]);
}

/** The last fence attempts (at most 5), newest last: time, target, level, device, outcome. */
function fenceHistoryRows(history: readonly FenceAttempt[]): string[] {
  if (history.length === 0) return [row('fences', 'none yet')];
  return history.slice(-5).map((a, i) => row(i === 0 ? 'fences' : '', formatAttempt(a)));
}

/** One fence attempt on one line (the shell's status, and `hotspare status`). */
export function formatAttempt(a: FenceAttempt): string {
  const what = a.kind === 'isolation' ? 'isolation' : `level ${a.level}`;
  const outcome = a.ok ? (a.kind === 'isolation' ? 'cut' : 'off') : 'FAILED';
  return `${iso(a.atMs)} ${a.target} ${what} (${printable(a.device)}) ${outcome} in ${(a.tookUs / 1000).toFixed(1)} ms${a.ok ? '' : `: ${printable(a.detail)}`}`;
}

/** `bmc NODE status`: one line; with more levels or a switch port, one more line for each. */
export function formatPowerReading(r: PowerReading): string {
  const head = `bmc ${r.member}: power ${r.power}`;
  if (r.levels.length <= 1 && r.port === null) return lines([head]);
  return lines([
    head,
    ...r.levels.map(
      (l) =>
        `  level ${l.level} (${printable(l.device)}): ${l.power ?? `ERROR ${printable(l.error ?? '?')}`} in ${(l.tookUs / 1000).toFixed(1)} ms`,
    ),
    ...(r.port === null
      ? []
      : [`  switch port (${printable(r.port.device)}): ${r.port.state ?? `ERROR ${printable(r.port.error ?? '?')}`}`]),
  ]);
}

export function formatHistory(transitions: readonly Transition[]): string {
  if (transitions.length === 0) return lines(['no role transitions yet']);
  return lines(
    transitions.map((t) => `${iso(t.atMs)}  ${t.from} -> ${t.to}  epoch ${t.epoch}  ${printable(t.reason)}`),
  );
}

export function formatProbe(address: string, results: readonly EchoResult[]): string {
  const answered = results.flatMap((r) => (r.rttUs === null ? [] : [r.rttUs]));
  const each = results.map(
    (r) => `seq ${r.sequence}: ${r.rttUs === null ? 'no reply within 1 s' : `rtt ${Math.round(r.rttUs)} us`}`,
  );
  const sorted = [...answered].sort((a, b) => a - b);
  const tail =
    sorted.length === 0
      ? ''
      : `; rtt min ${Math.round(sorted[0] ?? 0)} median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0)} max ${Math.round(sorted[sorted.length - 1] ?? 0)} us`;
  return lines([...each, `${address}: ${results.length} sent, ${answered.length} answered${tail}`]);
}

export function formatLog(log: readonly LogLine[]): string {
  if (log.length === 0) return lines(['the log is empty']);
  return lines(
    log.map((l) => {
      const fields = Object.entries(l.fields).map(([k, v]) => ` ${printable(k)}=${printable(String(v))}`);
      return `${iso(l.atMs)} ${l.level.padEnd(5)} ${printable(l.event)}: ${printable(l.message)}${fields.join('')}`;
    }),
  );
}

/** Keys whose values are secrets. A path to a secret file is not itself a secret. */
const SECRET = /pass(word)?|secret|token|credential|key|psk/i;
const PATH_KEY = /(file|path|dir)$/i;

export function formatConfig(config: Record<string, unknown>): string {
  const out: string[] = [];
  const walk = (value: unknown, path: string, key: string): void => {
    if (SECRET.test(key) && !PATH_KEY.test(key)) {
      out.push(`${path} = [redacted]`);
    } else if (Array.isArray(value)) {
      if (value.length === 0) out.push(`${path} = []`);
      value.forEach((item, i) => walk(item, `${path}[${i}]`, key));
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0 && path !== '') out.push(`${path} = {}`);
      for (const [k, v] of entries) walk(v, path === '' ? k : `${path}.${k}`, k);
    } else {
      out.push(`${path} = ${printable(JSON.stringify(value) ?? String(value))}`);
    }
  };
  walk(config, '', '');
  return lines(out);
}

export function formatSyncStatus(sync: SyncStatus): string {
  return lines([
    row(
      'syncs',
      `${sync.requested} requested, ${sync.completed} done, ${sync.failed} failed${sync.serving ? '; serving key files (primary)' : ''}`,
    ),
    row('last sync', lastSync(sync)),
    row('moved', `${sync.lastFiles} files, ${sync.lastBytes} bytes last time; ${sync.totalBytes} bytes in all`),
    row('last error', sync.lastError === null ? 'none' : printable(sync.lastError)),
  ]);
}

export function formatSyncResult(result: SyncResult | null, sync: SyncStatus): string {
  if (result === null) return lines([`sync failed: ${printable(sync.lastError ?? 'see log')}`]);
  if (result.skipped) return lines(['a sync is already running; try sync status in a moment']);
  return lines([`synced: ${result.files} files, ${result.bytes} bytes, ${result.deleted} deletions`]);
}

export function formatOutcome(outcome: CommandOutcome): string {
  const change = outcome.from === outcome.to ? `still ${outcome.to}` : `${outcome.from} -> ${outcome.to}`;
  return lines([`${outcome.accepted ? 'accepted' : 'refused'}: ${printable(outcome.message)} (${change})`]);
}

export function formatHelp(topic: string | null): string {
  if (topic !== null) {
    const spec = specOf(topic);
    if (spec === undefined) return lines([`no command ${topic}`]);
    return lines([
      `usage: ${spec.usage}`,
      ...wrap(spec.detail, 76).map((l) => `  ${l}`),
      ...(spec.mutating
        ? ['  (changes the cluster: asks for confirmation, and the shell password when one is set)']
        : []),
    ]);
  }
  const width = Math.max(...CATALOG.map((spec) => spec.usage.length));
  return lines([
    'commands (* asks for confirmation):',
    ...CATALOG.map((spec) => `  ${spec.usage.padEnd(width)} ${spec.mutating ? '*' : ' '} ${spec.summary}`),
    ...KEYS_HELP,
  ]);
}

/** Only printable ASCII survives: log messages and config values may carry anything. */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (char) => (char === '\n' ? ' ' : '?'));
}

function summary(s: SampleSummary): string {
  const v = (n: number | null): string => (n === null ? '-' : String(Math.round(n)));
  return `min ${v(s.min)} median ${v(s.median)} p99 ${v(s.p99)} max ${v(s.max)}`;
}

function lastSync(sync: SyncStatus): string {
  if (sync.lastOkAtMs === null) return `never (${sync.requested} requested, ${sync.failed} failed)`;
  return `${iso(sync.lastOkAtMs)} (${sync.lagMs ?? '?'} ms ago, ${sync.lastFiles} files, ${sync.lastBytes} bytes)`;
}

function row(key: string, value: string): string {
  return `${key.padEnd(10)}${value}`;
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

function lines(list: readonly string[]): string {
  return `${list.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current !== '' && current.length + 1 + word.length > width) {
      out.push(current);
      current = word;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  if (current !== '') out.push(current);
  return out;
}
