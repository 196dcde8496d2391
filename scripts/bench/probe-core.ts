/**
 * Section 3: the probe core. For each probe interval, a lab with real agents; the monitor's
 * send-time jitter (its own status().probeJitterUs: actual minus scheduled send time, µs), its
 * CPU use (utime + stime from /proc, percent of one core) and resident memory over the window.
 * Once idle, once with the other core saturated by stress-ng and a busy shell session.
 *
 * Jitter: status().probeJitterUs covers the last 4096 probes only. So status is polled every
 * min(window, 4000 probe intervals): the polls' windows cover the whole measurement without
 * gaps. Reported: p50 = median of the polls' medians, p99 = the largest of the polls' p99
 * (an upper bound of the p99 over all samples), max = the largest maximum. At 100 ms the one
 * poll's window (4096 probes = 410 s) also reaches back before the measurement, to the moment
 * the agent became monitor (a few seconds, the same condition).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { request } from '../../src/control/client.js';
import { repoRoot } from '../lab/paths.js';
import { PRIMARY_ADDRESS, bare } from '../lab/topology.js';
import { agentLog, converged } from '../lab/cluster.js';
import { sleep } from '../lab/exec.js';
import type { Lab } from '../lab/lab.js';
import { startBusyClient } from './busy-shell.js';
import type { BusyClientResult } from './busy-shell.js';
import { withLab } from './labs.js';
import { loadSample } from './machine.js';
import type { LoadSample } from './machine.js';
import { cpuPercent, readUsage } from './proc-usage.js';
import { profileProcess } from './profile.js';
import type { CpuProfile } from './profile.js';
import { startStress } from './stress.js';
import { median, round } from './stats.js';

export interface JitterPoll {
  atS: number;
  count: number;
  window: number;
  median: number | null;
  p99: number | null;
  max: number | null;
}

export type ProbeEngineSetting = 'native' | 'event-loop';

export interface ProbeCoreMeasurement {
  intervalMs: number;
  condition: 'idle' | 'stressed';
  /**
   * `probe.engine` given to the agents, and what the monitor said it ran on (its
   * `probe-engine` log line). Absent in results from before the native prober.
   */
  engine?: ProbeEngineSetting;
  engineUsed?: string | null;
  seconds: number;
  monitor: string;
  jitterUs: { p50: number | null; p99: number | null; max: number | null; samples: number };
  polls: JitterPoll[];
  cpuPercent: number;
  childCpuPercent: number;
  rssMiB: number;
  peakRssMiB: number;
  probesSent: number;
  misses: number;
  rttUs: { median: number | null; p99: number | null };
  load: { start: LoadSample; end: LoadSample };
  stress: string | null;
  busyClient: BusyClientResult | null;
  /** perf profile of the monitor after the window (10 ms, idle only). */
  profile: CpuProfile | null;
  /**
   * The same probe loop in C (dist/bin/bench-timer ... ping), run beside the agent in the
   * monitor's namespace over the same window, against the same primary address: what a probe
   * loop in native code costs and achieves on this machine and lab. Null when not run.
   */
  nativeLoop: NativeLoopResult | null;
  error: string | null;
}

export interface NativeLoopResult {
  description: string;
  latenessUs: { p50: number; p99: number; max: number } | null;
  cpuPercent: number | null;
  sent: number;
  replies: number;
  rttUs: { p50: number | null; p99: number | null };
  error: string | null;
}

/** Starts the C probe loop in the monitor's namespace at the agent's priority (lab: FIFO 10). */
function startNativeLoop(lab: Lab, monitor: string, intervalMs: number, seconds: number): Promise<NativeLoopResult> {
  const binary = resolve(repoRoot(), 'dist/bin/bench-timer');
  const description = `C: clock_nanosleep to each deadline, one echo request over a raw socket, ppoll for the reply; SCHED_FIFO 10, beside the agent in ${monitor}'s namespace`;
  const failed = (error: string): NativeLoopResult => ({
    description,
    latenessUs: null,
    cpuPercent: null,
    sent: 0,
    replies: 0,
    rttUs: { p50: null, p99: null },
    error,
  });
  if (!existsSync(binary)) return Promise.resolve(failed(`${binary} not built (make bench builds it)`));
  const child = lab.group.spawn({
    name: 'native-loop',
    netns: lab.get(monitor).plan.netns,
    argv: [binary, String(intervalMs * 1000), String(seconds), 'fifo', '10', 'ping', bare(PRIMARY_ADDRESS)],
  });
  let out = '';
  let err = '';
  child.child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  return child.exited.then(() => {
    const line = out.trim().split('\n').at(-1) ?? '';
    try {
      const r = JSON.parse(line) as {
        p50: number;
        p99: number;
        max: number;
        cpuPercent: number;
        sent: number;
        replies: number;
        rttP50: number;
        rttP99: number;
      };
      return {
        description,
        latenessUs: { p50: r.p50, p99: r.p99, max: r.max },
        cpuPercent: round(r.cpuPercent, 2),
        sent: r.sent,
        replies: r.replies,
        rttUs: { p50: r.rttP50 < 0 ? null : r.rttP50, p99: r.rttP99 < 0 ? null : r.rttP99 },
        error: null,
      };
    } catch {
      return failed(`no result: ${err.trim().slice(0, 200) || out.trim().slice(0, 200)}`);
    }
  });
}

interface StatusShape {
  probeJitterUs: { count: number; window: number; median: number | null; p99: number | null; max: number | null };
  rttUs: { median: number | null; p99: number | null };
  probes: { probesSent: number; misses: number };
}

async function status(lab: Lab, server: string): Promise<StatusShape> {
  return (await request(lab.get(server).paths.controlSocket, 'status')) as StatusShape;
}

async function measure(
  lab: Lab,
  intervalMs: number,
  condition: 'idle' | 'stressed',
  engine: ProbeEngineSetting,
  seconds: number,
  ticks: number,
  shellPauseMs: number,
  profileSeconds: number,
  nativeLoop: boolean,
): Promise<ProbeCoreMeasurement> {
  const roles = await converged(lab, 60_000, 2000);
  const monitor = roles.monitor;
  const pid = lab.agentPid(monitor);
  if (pid === null) throw new Error(`no pid for the monitor ${monitor}`);
  const stress = condition === 'stressed' ? await startStress(1, seconds + 10, '1') : null;
  const busy =
    condition === 'stressed' ? await startBusyClient(lab.get(monitor).paths.controlSocket, shellPauseMs) : null;
  let result: ProbeCoreMeasurement;
  let busyResult: BusyClientResult | null = null;
  try {
    if (stress !== null) await sleep(1000);
    const start = loadSample();
    const before = readUsage(pid);
    const first = await status(lab, monitor);
    const polls: JitterPoll[] = [];
    const pollEveryMs = Math.max(1000, Math.min(seconds * 1000, 4000 * intervalMs));
    const native = nativeLoop ? startNativeLoop(lab, monitor, intervalMs, seconds) : null;
    const startedMs = Date.now();
    const endMs = startedMs + seconds * 1000;
    let peakKiB = before?.hwmKiB ?? NaN;
    for (;;) {
      const nextMs = Math.min(endMs, Date.now() + pollEveryMs);
      while (Date.now() < nextMs) {
        await sleep(Math.min(1000, nextMs - Date.now()));
        const sample = readUsage(pid);
        if (sample !== null) peakKiB = Math.max(peakKiB, sample.hwmKiB);
      }
      const s = await status(lab, monitor);
      polls.push({
        atS: round((Date.now() - startedMs) / 1000, 1),
        count: s.probeJitterUs.count,
        window: s.probeJitterUs.window,
        median: s.probeJitterUs.median,
        p99: s.probeJitterUs.p99,
        max: s.probeJitterUs.max,
      });
      if (Date.now() >= endMs) break;
    }
    const after = readUsage(pid);
    const last = await status(lab, monitor);
    const nativeResult = native === null ? null : await native;
    if (before === null || after === null)
      throw new Error(`monitor ${monitor} (pid ${pid}) went away during the measurement`);
    const numbers = (values: Array<number | null>): number[] => values.filter((v): v is number => v !== null);
    const p99s = numbers(polls.map((p) => p.p99));
    const maxes = numbers(polls.map((p) => p.max));
    result = {
      intervalMs,
      condition,
      engine,
      engineUsed:
        agentLog(lab, monitor)
          .filter((l) => l.event === 'probe-engine')
          .at(-1)?.message ?? null,
      seconds,
      monitor,
      jitterUs: {
        p50: polls.length === 0 ? null : median(numbers(polls.map((p) => p.median))),
        p99: p99s.length === 0 ? null : Math.max(...p99s),
        max: maxes.length === 0 ? null : Math.max(...maxes),
        samples: last.probeJitterUs.count - first.probeJitterUs.count,
      },
      polls,
      cpuPercent: round(cpuPercent(before, after, ticks), 2),
      childCpuPercent: round(cpuPercent(before, after, ticks, 'children'), 2),
      rssMiB: round(after.rssKiB / 1024, 1),
      peakRssMiB: round(Math.max(peakKiB, after.hwmKiB) / 1024, 1),
      probesSent: last.probes.probesSent - first.probes.probesSent,
      misses: last.probes.misses - first.probes.misses,
      rttUs: { median: last.rttUs.median, p99: last.rttUs.p99 },
      load: { start, end: loadSample() },
      stress: stress === null ? null : stress.argv.join(' '),
      busyClient: null,
      profile: null,
      nativeLoop: nativeResult,
      error: null,
    };
  } finally {
    busyResult = busy === null ? null : await busy.stop();
    await stress?.stop();
  }
  result.busyClient = busyResult;
  if (profileSeconds > 0) result.profile = await profileProcess(pid, profileSeconds);
  return result;
}

export async function probeCoreSection(
  intervals: readonly number[],
  seconds: number,
  ticks: number,
  shellPauseMs: number,
  profileSeconds: number,
  log: (line: string) => void,
): Promise<ProbeCoreMeasurement[]> {
  const results: ProbeCoreMeasurement[] = [];
  for (const intervalMs of intervals) {
    // Every interval with the native prober (the default); at 10 ms also with the event-loop
    // prober, side by side, since that is where the targets are set.
    const engines: ProbeEngineSetting[] = intervalMs === 10 ? ['native', 'event-loop'] : ['native'];
    for (const engine of engines) {
      for (const condition of ['idle', 'stressed'] as const) {
        log(`probe core: interval ${intervalMs} ms, ${engine} prober, ${condition}, ${seconds} s`);
        try {
          const profileNow = intervalMs === 10 && condition === 'idle' ? profileSeconds : 0;
          const result = await withLab(
            { observer: false, config: { probe: { interval_ms: intervalMs, engine } } },
            (lab) =>
              measure(
                lab,
                intervalMs,
                condition,
                engine,
                seconds,
                ticks,
                shellPauseMs,
                profileNow,
                intervalMs === 10 && engine === 'native',
              ),
          );
          results.push(result);
          if (result.engineUsed !== undefined)
            log(`  ${result.engineUsed ?? "no probe-engine line in the monitor's log"}`);
          if (result.profile !== null)
            log(
              `  perf: ${result.profile.cpuPercent} % of a core in ${result.profile.seconds} s; ${result.profile.byObject
                .slice(0, 4)
                .map((o) => `${o.name} ${o.percent} %`)
                .join(', ')}`,
            );
          log(
            `  jitter p50 ${String(result.jitterUs.p50)} µs, p99 ${String(result.jitterUs.p99)} µs, max ${String(result.jitterUs.max)} µs; cpu ${result.cpuPercent} % (+${result.childCpuPercent} % children); rss ${result.rssMiB} MiB`,
          );
          const n = result.nativeLoop;
          if (n !== null)
            log(
              n.error !== null
                ? `  native loop: ${n.error}`
                : `  native loop beside it: lateness p50 ${String(n.latenessUs?.p50)} µs, p99 ${String(n.latenessUs?.p99)} µs; cpu ${String(n.cpuPercent)} %; ${n.replies}/${n.sent} replies, rtt p50 ${String(n.rttUs.p50)} µs`,
            );
        } catch (error) {
          log(`  failed: ${String(error)}`);
          results.push({
            intervalMs,
            condition,
            engine,
            engineUsed: null,
            seconds,
            monitor: '',
            jitterUs: { p50: null, p99: null, max: null, samples: 0 },
            polls: [],
            cpuPercent: NaN,
            childCpuPercent: NaN,
            rssMiB: NaN,
            peakRssMiB: NaN,
            probesSent: 0,
            misses: 0,
            rttUs: { median: null, p99: null },
            load: { start: loadSample(), end: loadSample() },
            stress: null,
            busyClient: null,
            profile: null,
            nativeLoop: null,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
    }
  }
  return results;
}
