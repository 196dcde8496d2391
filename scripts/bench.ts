/**
 * `make bench` (not part of `make test`): failover time side by side with keepalived, our
 * fence against fence_ipmilan, the probe core's timing and cost, and false alarms under load.
 * Writes bench-results/latest.json, latest.svg and latest.md. Parameters: see bench/params.ts
 * (BENCH_RUNS, BENCH_PROBE_S, BENCH_STRESS_S, ... for quick checks with tiny runs).
 *
 *   node dist/scripts/bench.js
 *   node dist/scripts/bench.js --render bench-results/latest.json   (targets, .md, .svg again; no measuring)
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { cleanupAll, installSignalCleanup } from './bench/cleanup.js';
import { failoverSection, leaseGate } from './bench/failover.js';
import type { FailoverSection } from './bench/failover.js';
import { falseAlarmRun, falseAlarmSection } from './bench/false-alarms.js';
import type { FalseAlarmRun, FalseAlarmSection } from './bench/false-alarms.js';
import { fencingSection } from './bench/fencing.js';
import type { FencingSection } from './bench/fencing.js';
import { cpuSnapshot, loadSample, machineBusy, machineFacts } from './bench/machine.js';
import type { LoadSample } from './bench/machine.js';
import { setLabBmcBehaviour } from './bench/labs.js';
import { describeSetting, readParams } from './bench/params.js';
import type { ProbeSetting } from './bench/params.js';
import { probeCoreSection } from './bench/probe-core.js';
import { probeFloor } from './bench/probe-floor.js';
import { markdownSummary } from './bench/report.js';
import type { BenchResults } from './bench/results.js';
import { renderSvg } from './bench/svg.js';
import { judgeTargets } from './bench/targets.js';
import { repoRoot } from './lab/paths.js';

/** The agent's default probe settings (README): interval 10 ms, timeout 10 ms, 3 misses. */
const DEFAULT_PROBE: ProbeSetting = { intervalMs: 5, timeoutMs: 10, misses: 5 };
const PROBE_INTERVALS = [1, 10, 100];

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function requireTools(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the benchmark needs root (network namespaces, raw sockets); run `make bench` as root');
  const missing = [
    'keepalived',
    'fence_ipmilan',
    'fence_redfish',
    'fence_ifmib',
    'snmpd',
    'stress-ng',
    'ipmi_sim',
    'ipmitool',
    'tc',
  ].filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')} (make deps-bench installs them)`);
}

async function section<T>(name: string, errors: BenchResults['errors'], body: () => Promise<T>): Promise<T | null> {
  const started = Date.now();
  try {
    const value = await body();
    log(`${name}: done in ${Math.round((Date.now() - started) / 1000)} s`);
    return value;
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`${name}: FAILED: ${message}`);
    errors.push({ section: name, error: message });
    return null;
  }
}

/** latest.json, latest.svg (failover timelines and distributions) and latest.md in `outDir`. */
async function writeOutputs(results: BenchResults, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const m = results.machine;
  const subtitle = `${m.nproc} × ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}; load ${results.load.start.loadavg.join(' ')} → ${results.load.end.loadavg.join(' ')}; ${results.startedAt.slice(0, 16)} UTC`;
  await writeFile(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 1)}\n`);
  await writeFile(
    join(outDir, 'latest.svg'),
    renderSvg(
      'hotspare failover benchmark: our failover (with fencing) and keepalived, same lab, same observer',
      subtitle,
      results.failover?.configurations ?? [],
    ),
  );
  const summary = markdownSummary(results);
  await writeFile(join(outDir, 'latest.md'), summary);
  process.stdout.write(`\n${summary}\nwritten: ${join(outDir, 'latest.json')}, latest.svg, latest.md\n`);
}

/** `--render FILE`: the targets, summary and picture again from saved measurements (nothing is measured). */
async function render(file: string): Promise<void> {
  const saved = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
  const { targets: _old, ...measured } = saved;
  const note = `Targets, latest.md and latest.svg re-rendered from these measurements at ${new Date().toISOString()} (node dist/scripts/bench.js --render); the measurements are unchanged.`;
  const notes = [...measured.notes.filter((n) => !n.startsWith('Targets, latest.md and latest.svg re-rendered')), note];
  const results: BenchResults = { ...measured, notes, targets: judgeTargets({ ...measured, notes }) };
  await writeOutputs(results, dirname(resolve(file)));
}

async function main(): Promise<void> {
  installSignalCleanup();
  const renderIndex = process.argv.indexOf('--render');
  if (renderIndex >= 0) {
    const file = process.argv[renderIndex + 1];
    if (file === undefined) throw new Error('usage: bench.js --render RESULTS.json');
    await render(file);
    return;
  }
  const params = readParams();
  setLabBmcBehaviour(params.bmcOffDelayMs, params.bmcAckDelayMs);
  requireTools();
  const startedAt = new Date();
  const loadStart = loadSample();
  const cpuStart = cpuSnapshot();
  const loads: LoadSample[] = [loadStart];
  const sampler = setInterval(() => loads.push(loadSample()), 60_000);
  const machine = machineFacts();
  log(`bench: ${machine.nproc} CPUs, load ${loadStart.loadavg.join(' ')}, sections ${[...params.sections].join(', ')}`);
  const errors: BenchResults['errors'] = [];
  const notes: string[] = [
    "Crash = the lab's power loss: the holder's agent (or keepalived) is SIGKILLed with everything it started and its links go down; the same for ours and keepalived. Outage = the observer's (1 ms ICMP echo) last reply before the crash to the first reply from the new holder.",
    "Our breakdown comes from the new primary's own log (monotonic µs, the observer's clock): detection = last reply -> primary-down; fence = fence-start -> fence-done (off + status against ipmi_sim over the kept RMCP+ session, bmc.client rmcp); confirm = fence-done -> silence confirmed; takeover = -> address assigned; announce = address assigned -> first observer reply. ownMs = outage minus fence.",
    "keepalived runs in the same namespaces with the same address, all BACKUP with nopreempt (a server that comes back stays backup, as ours comes back as monitor); its breakdown is from ground truth: ip monitor time of the address on the new master (that timestamp is taken when ip monitor reads the event, about a millisecond late, so keepalived's announce can read slightly negative).",
    'A failover attempt is skipped (and listed) when the holder did not answer the observer steadily before the crash, or when a false alarm (fence of the live primary) was already under way; false alarms found between runs are listed as unexpectedTakeovers.',
    "Probe jitter is the monitor's own status().probeJitterUs (actual minus scheduled send time). It keeps the last 4096 samples, so it is polled every min(window, 4000 intervals); p50 = median of the polls' medians, p99 = largest poll p99 (an upper bound), max = largest poll max. CPU = utime+stime of the agent process (all threads) from /proc over the window; children (the hotspare-arp helper, ip) separately, running ones included (from /proc).",
  ];
  let fencing: FencingSection | null = null;
  let probeCore: BenchResults['probeCore'] = null;
  let falseAlarms: FalseAlarmSection | null = null;
  let leaseAlarms: FalseAlarmRun | null = null;
  let failover: FailoverSection | null = null;
  try {
    if (params.sections.has('fencing'))
      fencing = await section('fencing', errors, () => fencingSection(params.fenceRuns, log));
    if (params.sections.has('probe')) {
      probeCore = await section('probe', errors, async () => ({
        measurements: await probeCoreSection(
          PROBE_INTERVALS,
          params.probeSeconds,
          machine.clockTicksPerSecond,
          params.shellPauseMs,
          params.profileSeconds,
          log,
        ),
        floor: params.floorSeconds > 0 ? await probeFloor(params.floorSeconds, log) : [],
      }));
    }
    if (params.sections.has('false-alarms')) {
      const impair = { loss: params.loss, delayMs: params.delayMs, jitterMs: params.jitterMs, mode: params.impair };
      falseAlarms = await section('false-alarms', errors, () =>
        falseAlarmSection(
          DEFAULT_PROBE,
          params.stressSeconds,
          params.ladder,
          params.searchSeconds,
          params.confirmSeconds,
          impair,
          log,
        ),
      );
    }
    if (params.sections.has('lease-alarms')) {
      // The lease gate at BENCH_LEASE (its defaults unless set), as long as the probe defaults' run, under the same load.
      const impair = { loss: params.loss, delayMs: params.delayMs, jitterMs: params.jitterMs, mode: params.impair };
      leaseAlarms = await section('lease-alarms', errors, () =>
        falseAlarmRun(params.leaseProbe ?? DEFAULT_PROBE, params.stressSeconds, impair, log, leaseGate(params.lease)),
      );
    }
    if (params.sections.has('failover')) {
      const smallest = falseAlarms?.smallest ?? null;
      const small = smallest !== null && describeSetting(smallest) !== describeSetting(DEFAULT_PROBE) ? smallest : null;
      if (falseAlarms !== null && params.ladder.length === 0)
        notes.push('The smallest-window search was not run (BENCH_LADDER=none).');
      else if (smallest === null && falseAlarms !== null)
        notes.push(
          'No probe setting of the ladder passed the false-alarm search, so the failover was not measured at a "smallest passing window".',
        );
      if (smallest !== null && small === null)
        notes.push('The smallest passing window is the default setting: hotspare-default is measured at it.');
      failover = await section('failover', errors, () =>
        failoverSection(DEFAULT_PROBE, small, params.runs, log, params.lease, params.configs, params.leaseProbe),
      );
    }
  } finally {
    clearInterval(sampler);
    await cleanupAll();
  }
  const finishedAt = new Date();
  const busy = machineBusy(cpuStart, cpuSnapshot());
  const partial: Omit<BenchResults, 'targets'> = {
    schema: 'hotspare-bench/1',
    command: process.env['BENCH_COMMAND'] ?? `node dist/scripts/bench.js`,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine,
    load: { start: loadStart, end: loadSample(), samples: loads },
    machineBusyPercent: busy.busyPercent,
    params: { ...params, sections: [...params.sections] },
    fencing,
    probeCore,
    falseAlarms,
    leaseAlarms,
    failover,
    errors,
    notes,
  };
  const results: BenchResults = { ...partial, targets: judgeTargets(partial) };
  await writeOutputs(results, resolve(repoRoot(), params.outDir));
  if (errors.length > 0) process.exitCode = 1;
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await cleanupAll();
  process.exit(1);
});
