/** Section 1: failover outage, ours (with fencing) and keepalived's, in the same lab and observer. */
import type { Lab } from '../lab/lab.js';
import { withLab } from './labs.js';
import { KEEPALIVED_DEFAULT, KEEPALIVED_FAST, keepalivedAgent } from './keepalived.js';
import type { KeepalivedVariant } from './keepalived.js';
import { DEFAULT_LEASE, describeLease, describeSetting } from './params.js';
import type { LeaseSetting, ProbeSetting } from './params.js';
import { runKeepalived } from './rounds-keepalived.js';
import type { FailoverFault } from '../lab/failover.js';
import { runOurs } from './rounds-ours.js';
import type { FailoverRun } from './rounds-ours.js';
import { distribution, ratio } from './stats.js';
import type { Distribution } from './stats.js';

export interface TimelinePoint {
  /** ms since the crash. */
  tMs: number;
  server: string | null;
}

export interface Representative {
  run: number;
  outageMs: number;
  oldHolder: string;
  newHolder: string;
  replies: TimelinePoint[];
  events: Array<{ name: string; tMs: number }>;
}

export interface FailoverConfigResult {
  name: string;
  description: string;
  probe: ProbeSetting | null;
  outageMs: Distribution | null;
  /** How the old holder failed (absent in results before faults other than a crash were measured). */
  fault?: FailoverFault;
  breakdown: Record<
    'detectionMs' | 'fenceMs' | 'confirmMs' | 'takeoverMs' | 'announceMs' | 'ownMs',
    Distribution | null
  > &
    Partial<Record<'bmcOffMs' | 'beyondBmcMs', Distribution | null>>;
  runs: Array<Omit<FailoverRun, 'observed' | 'events' | 'crashUs'> & { addressAddedMs: number | null }>;
  representative: Representative | null;
  /** Intervals in which two servers held the primary address on usable links (ground truth). */
  splitBrain: number;
  /** Takeovers without a crash during the measurement (false alarms). */
  unexpectedTakeovers: Array<{ atRun: number; expected: string; found: string; why: string }>;
  /** Attempts not measured, and why. */
  skipped: Array<{ atRun: number; why: string }>;
  error: string | null;
}

export interface FailoverSection {
  configurations: FailoverConfigResult[];
  /** Medians of outage, ours over theirs (same invocation). */
  ratios: Record<string, number | null>;
}

const KEYS = [
  'detectionMs',
  'fenceMs',
  'confirmMs',
  'takeoverMs',
  'announceMs',
  'ownMs',
  'bmcOffMs',
  'beyondBmcMs',
] as const;

function representative(lab: Lab, runs: readonly FailoverRun[]): Representative | null {
  const outages = runs.map((r) => r.outageMs);
  const median = distribution(outages)?.median;
  if (median === undefined) return null;
  const chosen = [...runs].sort((a, b) => Math.abs(a.outageMs - median) - Math.abs(b.outageMs - median))[0];
  if (chosen === undefined) return null;
  const rel = (us: number): number => Math.round((us - chosen.crashUs) / 10) / 100;
  return {
    run: chosen.run,
    outageMs: chosen.outageMs,
    oldHolder: chosen.oldHolder,
    newHolder: chosen.newHolder,
    replies: chosen.observed.replies.map((r) => ({ tMs: rel(r.t), server: lab.serverByTtl(r.ttl) })),
    events: chosen.events.map((e) => ({ name: e.name, tMs: rel(e.atUs) })),
  };
}

function summarize(
  name: string,
  description: string,
  probe: ProbeSetting | null,
  fault: FailoverFault,
  lab: Lab,
  runs: FailoverRun[],
  unexpected: FailoverConfigResult['unexpectedTakeovers'],
  skipped: FailoverConfigResult['skipped'],
): FailoverConfigResult {
  const breakdown = Object.fromEntries(
    KEYS.map((key) => [key, distribution(runs.map((r) => r[key]))]),
  ) as FailoverConfigResult['breakdown'];
  return {
    name,
    description,
    probe,
    fault,
    outageMs: distribution(runs.map((r) => r.outageMs)),
    breakdown,
    runs: runs.map(({ observed, events: _events, crashUs, ...rest }) => ({
      ...rest,
      addressAddedMs:
        observed.addressAddedUs === null ? null : Math.round((observed.addressAddedUs - crashUs) / 10) / 100,
    })),
    representative: representative(lab, runs),
    splitBrain: lab.splitBrainViolations().length,
    unexpectedTakeovers: unexpected,
    skipped,
    error: null,
  };
}

/** A takeover gate and its settings, as config keys (README "Takeover gates"). */
export interface GateSetting {
  /** For the description: `lease, L 100 ms`. */
  label: string;
  config: Record<string, unknown>;
  /** The lab switch speaks SNMP and every member's port is its isolation device (the `isolated` gate). */
  isolation?: boolean;
}

export const CONFIRMED_GATE: GateSetting = { label: 'gate confirmed', config: {} };
/** The confirmed gate without quick polls around the board's bmc.power_off_ms: the same run's comparison. */
export const CONFIRMED_NORMAL_POLLS: GateSetting = {
  label: 'gate confirmed, status polls every fencing.power_poll_ms throughout (power_poll_quick_ms 0)',
  config: { fencing: { power_poll_quick_ms: 0 } },
};
export const ISOLATED_GATE: GateSetting = {
  label: 'gate isolated (switch port shut through SNMP)',
  config: { fencing: { gate: 'isolated' } },
  isolation: true,
};
/** The lease gate at `lease` (BENCH_LEASE; the config's defaults unless set). */
export function leaseGate(lease: LeaseSetting): GateSetting {
  return {
    label: `gate lease, ${describeLease(lease)}`,
    config: {
      fencing: { gate: 'lease' },
      lease: {
        duration_ms: lease.durationMs,
        renew_ms: lease.renewMs,
        drop_ms: lease.dropMs,
        ...(lease.thread === undefined ? {} : { thread: lease.thread }),
      },
    },
  };
}

const FAULT_TEXT: Record<FailoverFault, string> = {
  crash: 'power loss',
  cut: 'switch port down, server powered',
  silence: 'silent switch port, link up, agent alive',
  frozen: 'hung server: agent stopped, switch port silent, link up',
};

export async function measureOurs(
  name: string,
  probe: ProbeSetting,
  runs: number,
  log: (line: string) => void,
  gate: GateSetting = CONFIRMED_GATE,
  fault: FailoverFault = 'crash',
): Promise<FailoverConfigResult> {
  const description = `hotspare, ${describeSetting(probe)}, fencing required (off-on), ${gate.label}; ${FAULT_TEXT[fault]}`;
  log(`failover: ${name}: ${description}, ${runs} runs`);
  try {
    return await withLab(
      {
        config: {
          ...gate.config,
          probe: { interval_ms: probe.intervalMs, timeout_ms: probe.timeoutMs, misses: probe.misses },
        },
        ...(gate.isolation === true ? { switchSnmp: true, isolation: true } : {}),
      },
      async (lab) => {
        const outcome = await runOurs(lab, runs, log, fault);
        return summarize(name, description, probe, fault, lab, outcome.runs, outcome.unexpected, outcome.skipped);
      },
    );
  } catch (error) {
    log(`failover: ${name} failed: ${String(error)}`);
    return failed(name, description, probe, error);
  }
}

export async function measureKeepalived(
  variant: KeepalivedVariant,
  runs: number,
  log: (line: string) => void,
): Promise<FailoverConfigResult> {
  const description = `keepalived ${variant.vrrpVersion === 3 ? 'VRRPv3' : 'VRRPv2'}, advert_int ${variant.advertInt} s, nopreempt`;
  log(`failover: ${variant.name}: ${description}, ${runs} runs`);
  const names = ['a', 'b', 'c'];
  try {
    return await withLab({ servers: names, agentCommand: keepalivedAgent(variant, names) }, async (lab) => {
      // Settled means stable for three advertisement intervals and at least half a second.
      const result = await runKeepalived(lab, runs, Math.max(500, variant.advertInt * 3000), log);
      return summarize(variant.name, description, null, 'crash', lab, result.runs, [], result.skipped);
    });
  } catch (error) {
    log(`failover: ${variant.name} failed: ${String(error)}`);
    return failed(variant.name, description, null, error);
  }
}

function failed(name: string, description: string, probe: ProbeSetting | null, error: unknown): FailoverConfigResult {
  return {
    name,
    description,
    probe,
    outageMs: null,
    breakdown: { detectionMs: null, fenceMs: null, confirmMs: null, takeoverMs: null, announceMs: null, ownMs: null },
    runs: [],
    representative: null,
    splitBrain: 0,
    unexpectedTakeovers: [],
    skipped: [],
    error: error instanceof Error ? error.message : String(error),
  };
}

/**
 * Ours at the default probe settings (and at `small`, when given) per gate and fault, then
 * keepalived's default and fastest setting. The faults that leave the server powered (a
 * silent switch port, a hung server) are the ones where a slow BMC shows.
 */
export async function failoverSection(
  defaults: ProbeSetting,
  small: ProbeSetting | null,
  runs: number,
  log: (line: string) => void,
  lease: LeaseSetting = DEFAULT_LEASE,
  only: Set<string> | null = null,
  leaseProbe: ProbeSetting | null = null,
): Promise<FailoverSection> {
  // Each configuration by name, measured in this order unless `only` leaves it out.
  const leaseAt = leaseGate(lease);
  // A null measurement: not measurable here (no smallest passing window).
  const plan: Array<[string, (() => Promise<FailoverConfigResult>) | null]> = [
    ['hotspare-default', () => measureOurs('hotspare-default', defaults, runs, log)],
    [
      'hotspare-smallest-window',
      small === null ? null : () => measureOurs('hotspare-smallest-window', small, runs, log),
    ],
    ['hotspare-silent-port', () => measureOurs('hotspare-silent-port', defaults, runs, log, CONFIRMED_GATE, 'silence')],
    ['hotspare-hung', () => measureOurs('hotspare-hung', defaults, runs, log, CONFIRMED_GATE, 'frozen')],
    [
      'hotspare-hung-normal-polls',
      () => measureOurs('hotspare-hung-normal-polls', defaults, runs, log, CONFIRMED_NORMAL_POLLS, 'frozen'),
    ],
    [
      'hotspare-isolated-silent-port',
      () => measureOurs('hotspare-isolated-silent-port', defaults, runs, log, ISOLATED_GATE, 'silence'),
    ],
    [
      'hotspare-isolated-hung',
      () => measureOurs('hotspare-isolated-hung', defaults, runs, log, ISOLATED_GATE, 'frozen'),
    ],
    // The lease gate (opt-in): at BENCH_LEASE, and a tight setting with a short detection window.
    ['hotspare-lease', () => measureOurs('hotspare-lease', leaseProbe ?? defaults, runs, log, leaseAt)],
    [
      'hotspare-lease-silent-port',
      () => measureOurs('hotspare-lease-silent-port', leaseProbe ?? defaults, runs, log, leaseAt, 'silence'),
    ],
    [
      'hotspare-lease-tight',
      () =>
        measureOurs(
          'hotspare-lease-tight',
          { intervalMs: 5, timeoutMs: 10, misses: 3 },
          runs,
          log,
          leaseGate({ durationMs: 30, renewMs: 5, dropMs: 10 }),
        ),
    ],
    [KEEPALIVED_FAST.name, () => measureKeepalived(KEEPALIVED_FAST, runs, log)],
    [KEEPALIVED_DEFAULT.name, () => measureKeepalived(KEEPALIVED_DEFAULT, runs, log)],
  ];
  if (only !== null) {
    const unknown = [...only].filter((name) => !plan.some(([known]) => known === name));
    if (unknown.length > 0)
      throw new Error(
        `BENCH_CONFIGS: unknown configuration(s) ${unknown.join(', ')} (known: ${plan.map(([n]) => n).join(', ')})`,
      );
  }
  const configurations: FailoverConfigResult[] = [];
  for (const [name, measure] of plan)
    if (measure !== null && (only === null || only.has(name))) configurations.push(await measure());
  const medianOf = (name: string): number | null =>
    configurations.find((c) => c.name === name)?.outageMs?.median ?? null;
  const ratios: Record<string, number | null> = {};
  for (const ours of configurations.filter((c) => c.name.startsWith('hotspare'))) {
    for (const theirs of configurations.filter((c) => c.name.startsWith('keepalived'))) {
      ratios[`${ours.name} / ${theirs.name}`] = ratio(medianOf(ours.name), medianOf(theirs.name));
    }
  }
  return { configurations, ratios };
}
