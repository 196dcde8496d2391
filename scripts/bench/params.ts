/**
 * Benchmark parameters, from the environment (all optional), so that a quick check and the
 * full run are the same program:
 *
 *   BENCH_SECTIONS      comma list of fencing,probe,false-alarms,lease-alarms,failover (default: all)
 *   BENCH_RUNS          failover runs per configuration (default 20)
 *   BENCH_FENCE_RUNS    fence runs per method (default 20)
 *   BENCH_PROBE_S       seconds per probe-core measurement (default 60)
 *   BENCH_STRESS_S      length of the false-alarm run at default probe settings (default 600)
 *   BENCH_SEARCH_S      length of each run of the smallest-window search (default 90)
 *   BENCH_CONFIRM_S     re-run the smallest passing window this long (default: BENCH_STRESS_S; 0: no)
 *   BENCH_LADDER        probe settings tried from large to small windows, as
 *                       interval/timeout/misses; tried largest window first until one fails
 *                       (default "3/8/6,2/6/7,1/4/9,1/3/8": windows of 26, 20, 13
 *                       and 11 ms, all below the default 5/10/5 of 35 ms); "none": no search
 *   BENCH_LOSS          packet loss per LAN egress port (default 0.01)
 *   BENCH_DELAY_MS / BENCH_JITTER_MS   netem-style delay and jitter per port (default 0 and 2)
 *   BENCH_IMPAIR        auto | netem | hub (default auto: netem when the kernel has it)
 *   BENCH_SHELL_PAUSE_MS  pause between two commands of the busy shell session (default 10)
 *   BENCH_PROFILE_S     perf profile of the monitor at 10 ms, idle (default 10; 0: none)
 *   BENCH_FLOOR_S       seconds per timer-floor measurement (Node and native timers, default 20; 0: none)
 *   BENCH_BMC_OFF_DELAY_MS  every lab BMC cuts the power this long after acknowledging an
 *                       off, like real hardware (default 0: at once; real x86 BMCs take ~4000)
 *   BENCH_BMC_ACK_DELAY_MS  added to every lab BMC's response time for power commands (default 0)
 *   BENCH_LEASE         the lease gate's setting in the lease-alarms run and the lease failover
 *                       rows, as duration/renew/drop in ms (default "100/10/10", the config's defaults),
 *                       optionally /worker, /twins or /event-loop: `lease.thread` (default: the config's, worker)
 *   BENCH_LEASE_PROBE   the probe setting (interval/timeout/misses) of the lease-alarms run and the
 *                       hotspare-lease rows (default: the probe defaults, as every other row)
 *   BENCH_CONFIGS       comma list of the failover section's configurations to measure, by
 *                       name (hotspare-default, hotspare-lease, keepalived-fast, ...; default: all)
 *   BENCH_OUT           output directory (default bench-results)
 */
export interface ProbeSetting {
  intervalMs: number;
  timeoutMs: number;
  misses: number;
}

/** The lease gate's timing settings (config `lease.duration_ms`, `renew_ms`, `drop_ms`). */
export interface LeaseSetting {
  durationMs: number;
  renewMs: number;
  dropMs: number;
  /** `lease.thread`; absent: the config's default. */
  thread?: 'worker' | 'twins' | 'event-loop';
}

export const DEFAULT_LEASE: LeaseSetting = { durationMs: 100, renewMs: 10, dropMs: 10 };

/** Three whole numbers >= 1 from `words` (strings), or null when they are not exactly that. */
function wholeTriple(words: readonly string[]): [number, number, number] | null {
  const parts = words.map(Number);
  const [a, b, c] = parts;
  if (parts.length !== 3 || a === undefined || b === undefined || c === undefined) return null;
  return parts.every((v) => Number.isInteger(v) && v >= 1) ? [a, b, c] : null;
}

export function parseLease(text: string): LeaseSetting {
  const words = text.trim().split('/');
  const thread = words.length === 4 ? words.pop() : undefined;
  if (thread !== undefined && thread !== 'worker' && thread !== 'twins' && thread !== 'event-loop')
    throw new Error(
      `BENCH_LEASE: "${text}": the thread after the timings is worker, twins or event-loop, not "${thread}"`,
    );
  const triple = wholeTriple(words);
  if (triple === null) throw new Error(`BENCH_LEASE: "${text}" is not duration/renew/drop in ms (whole numbers >= 1)`);
  const [durationMs, renewMs, dropMs] = triple;
  if (renewMs * 3 > durationMs)
    throw new Error(`BENCH_LEASE: renew ${renewMs} ms must be at most a third of the duration ${durationMs} ms`);
  return thread === undefined ? { durationMs, renewMs, dropMs } : { durationMs, renewMs, dropMs, thread };
}

export function describeLease(lease: LeaseSetting): string {
  const thread = lease.thread === undefined ? '' : `, lease.thread ${lease.thread}`;
  return `L ${lease.durationMs} ms, renew ${lease.renewMs} ms, d_drop ${lease.dropMs} ms${thread}`;
}

export interface BenchParams {
  sections: Set<string>;
  runs: number;
  fenceRuns: number;
  probeSeconds: number;
  stressSeconds: number;
  searchSeconds: number;
  confirmSeconds: number;
  ladder: ProbeSetting[];
  loss: number;
  delayMs: number;
  jitterMs: number;
  impair: 'auto' | 'netem' | 'hub';
  shellPauseMs: number;
  profileSeconds: number;
  floorSeconds: number;
  bmcOffDelayMs: number;
  bmcAckDelayMs: number;
  lease: LeaseSetting;
  /** The lease rows' probe setting (BENCH_LEASE_PROBE); null: the probe defaults. */
  leaseProbe: ProbeSetting | null;
  /** Failover configurations to measure; null: all. */
  configs: Set<string> | null;
  outDir: string;
}

export const ALL_SECTIONS = ['fencing', 'probe', 'false-alarms', 'lease-alarms', 'failover'] as const;
export const DEFAULT_LADDER = '3/8/6,2/6/7,1/4/9,1/3/8';

/** The README's detection bound: interval × misses + timeout. */
export function windowMs(setting: ProbeSetting): number {
  return setting.intervalMs * setting.misses + setting.timeoutMs;
}

export function describeSetting(setting: ProbeSetting): string {
  return `interval ${setting.intervalMs} ms, timeout ${setting.timeoutMs} ms, misses ${setting.misses} (window ${windowMs(setting)} ms)`;
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min)
    throw new Error(`${name}: must be a number >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}

export function parseLadder(text: string): ProbeSetting[] {
  if (text.trim() === 'none') return [];
  return text.split(',').map((part) => parseProbe(part, 'BENCH_LADDER'));
}

/** One probe setting, interval/timeout/misses in ms; errors name `variable`. */
export function parseProbe(text: string, variable: string): ProbeSetting {
  const triple = wholeTriple(text.trim().split('/'));
  if (triple === null)
    throw new Error(`${variable}: "${text.trim()}" is not interval/timeout/misses (whole numbers >= 1)`);
  const [intervalMs, timeoutMs, misses] = triple;
  return { intervalMs, timeoutMs, misses };
}

export function readParams(env: NodeJS.ProcessEnv = process.env): BenchParams {
  const sectionsText = env['BENCH_SECTIONS'] ?? '';
  const sections = new Set(sectionsText === '' ? ALL_SECTIONS : sectionsText.split(',').map((s) => s.trim()));
  for (const section of sections) {
    if (!(ALL_SECTIONS as readonly string[]).includes(section))
      throw new Error(`BENCH_SECTIONS: unknown section ${JSON.stringify(section)} (known: ${ALL_SECTIONS.join(', ')})`);
  }
  const impair = env['BENCH_IMPAIR'] ?? 'auto';
  if (impair !== 'auto' && impair !== 'netem' && impair !== 'hub')
    throw new Error(`BENCH_IMPAIR: auto, netem or hub, got ${JSON.stringify(impair)}`);
  const stressSeconds = number(env, 'BENCH_STRESS_S', 600, 1);
  return {
    sections,
    runs: Math.round(number(env, 'BENCH_RUNS', 20, 1)),
    fenceRuns: Math.round(number(env, 'BENCH_FENCE_RUNS', 20, 1)),
    probeSeconds: number(env, 'BENCH_PROBE_S', 60, 1),
    stressSeconds,
    searchSeconds: number(env, 'BENCH_SEARCH_S', 90, 1),
    confirmSeconds: number(env, 'BENCH_CONFIRM_S', stressSeconds, 0),
    ladder: parseLadder(env['BENCH_LADDER'] ?? DEFAULT_LADDER),
    loss: number(env, 'BENCH_LOSS', 0.01),
    delayMs: number(env, 'BENCH_DELAY_MS', 0),
    jitterMs: number(env, 'BENCH_JITTER_MS', 2),
    impair,
    shellPauseMs: number(env, 'BENCH_SHELL_PAUSE_MS', 10),
    profileSeconds: number(env, 'BENCH_PROFILE_S', 10),
    floorSeconds: number(env, 'BENCH_FLOOR_S', 20),
    bmcOffDelayMs: number(env, 'BENCH_BMC_OFF_DELAY_MS', 0),
    bmcAckDelayMs: number(env, 'BENCH_BMC_ACK_DELAY_MS', 0),
    lease: parseLease(env['BENCH_LEASE'] ?? '100/10/10'),
    leaseProbe:
      (env['BENCH_LEASE_PROBE'] ?? '') === '' ? null : parseProbe(env['BENCH_LEASE_PROBE'] ?? '', 'BENCH_LEASE_PROBE'),
    configs:
      (env['BENCH_CONFIGS'] ?? '') === ''
        ? null
        : new Set((env['BENCH_CONFIGS'] ?? '').split(',').map((s) => s.trim())),
    outDir: env['BENCH_OUT'] ?? 'bench-results',
  };
}
