/** The issue's targets (aimed for, not asserted), judged against the measurements. Pure. */
import { switchStallNote } from './false-alarms.js';
import type { FailoverConfigResult, FailoverSection } from './failover.js';
import type { BenchResults, TargetVerdict } from './results.js';

const fmt = (value: number | null | undefined, unit: string): string =>
  typeof value === 'number' && Number.isFinite(value) ? `${value} ${unit}` : 'not measured';

export function judgeTargets(results: Omit<BenchResults, 'targets'>): TargetVerdict[] {
  const verdicts: TargetVerdict[] = [];
  const configs = results.failover?.configurations ?? [];
  const median = (name: string): number | null => configs.find((c) => c.name === name)?.outageMs?.median ?? null;
  const fast = median('keepalived-fast');
  for (const ours of ['hotspare-default', 'hotspare-smallest-window']) {
    const value = median(ours);
    if (value === null && ours !== 'hotspare-default') continue;
    verdicts.push({
      target: `median outage below keepalived's fastest setting even though we fence (${ours})`,
      met: value === null || fast === null ? null : value < fast,
      measured: `${ours} median ${fmt(value, 'ms')} vs keepalived-fast median ${fmt(fast, 'ms')}`,
    });
  }
  // The smallest passing window may be the default setting itself: then hotspare-default is measured at it.
  const smallest = results.falseAlarms?.smallest ?? null;
  const same = (a: { intervalMs: number; timeoutMs: number; misses: number } | null): boolean =>
    a !== null &&
    smallest !== null &&
    a.intervalMs === smallest.intervalMs &&
    a.timeoutMs === smallest.timeoutMs &&
    a.misses === smallest.misses;
  const small = configs.find((c) => c.name.startsWith('hotspare') && same(c.probe));
  const own = small?.breakdown.ownMs?.median ?? null;
  const confirmation = results.falseAlarms?.confirmation ?? null;
  const confirmationNote =
    confirmation === null
      ? '; that window passed only the short search runs'
      : confirmation.spuriousFailovers === 0
        ? `; that window held over ${confirmation.seconds} s too`
        : `; but that window did not hold over the full ${confirmation.seconds} s run (${confirmation.spuriousFailovers} spurious failovers${switchStallNote(confirmation)}), so no window was shown to pass`;
  verdicts.push({
    target:
      'our part of the outage (detection, confirm, takeover, announcement; the fence excluded) under 5 ms at the smallest probe window that passes the false-alarm run',
    met: small === undefined ? null : own === null ? null : own < 5,
    measured:
      small === undefined
        ? results.falseAlarms === null || results.params.ladder.length === 0
          ? 'the false-alarm search did not run, so there was no smallest passing window to measure at'
          : 'no probe window of the ladder passed the false-alarm search, so there was no setting to measure it at'
        : `median ${fmt(own, 'ms')} at ${small.description} (detection ${fmt(small.breakdown.detectionMs?.median, 'ms')}, confirm ${fmt(small.breakdown.confirmMs?.median, 'ms')}, takeover ${fmt(small.breakdown.takeoverMs?.median, 'ms')}, announce ${fmt(small.breakdown.announceMs?.median, 'ms')})${confirmationNote}`,
  });
  for (const condition of ['idle', 'stressed'] as const) {
    // The agent as shipped: the native prober (results from before it have no engine: the event loop).
    const at10 =
      results.probeCore?.measurements.filter(
        (m) => m.intervalMs === 10 && m.condition === condition && m.error === null,
      ) ?? [];
    const probe = at10.find((m) => m.engine === 'native') ?? at10.find((m) => m.engine === undefined);
    verdicts.push({
      target: `probe jitter p99 under 100 µs at a 10 ms interval with the agent under 2 % of one core (${condition}${probe?.engine === undefined ? '' : `, ${probe.engine} prober`})`,
      met: probe === undefined || probe.jitterUs.p99 === null ? null : probe.jitterUs.p99 < 100 && probe.cpuPercent < 2,
      measured:
        probe === undefined
          ? 'not measured'
          : `p99 ${fmt(probe.jitterUs.p99, 'µs')}, CPU ${fmt(probe.cpuPercent, '%')} of one core${
              probe.nativeLoop?.latenessUs == null
                ? ''
                : `; the same loop in C beside it: p99 ${fmt(probe.nativeLoop.latenessUs.p99, 'µs')}, CPU ${fmt(probe.nativeLoop.cpuPercent, '%')}`
            }`,
    });
  }
  verdicts.push(...gateTargets(results.failover, results.params.bmcOffDelayMs ?? 0));
  const stress = results.falseAlarms?.defaults;
  verdicts.push({
    target: 'zero spurious failovers in the stress run (default probe settings)',
    met: stress === undefined || stress.error !== null ? null : stress.spuriousFailovers === 0,
    measured:
      stress === undefined
        ? 'not measured'
        : `${stress.spuriousFailovers} in ${stress.seconds} s (${stress.takeovers} takeovers, ${stress.addressMoves} address moves)`,
  });
  const lease = results.leaseAlarms ?? null;
  verdicts.push({
    target: "zero spurious failovers and zero spurious lease losses in the lease gate's stress run",
    met:
      lease === null || lease.error !== null ? null : lease.spuriousFailovers === 0 && (lease.leaseLosses ?? 0) === 0,
    measured:
      lease === null
        ? 'not measured'
        : `${lease.spuriousFailovers} spurious failovers, ${lease.leaseLosses ?? 'uncounted'} lease losses in ${lease.seconds} s`,
  });
  return verdicts;
}

/**
 * The takeover issue's targets per gate, with BMCs that power off late (BENCH_BMC_OFF_DELAY_MS):
 * `confirmed` adds at most 50 ms to the BMC's own off time; `isolated` has an outage of at
 * most a tenth of keepalived's defaults; `lease` is below keepalived's fastest setting; no
 * configuration of ours shows two connected holders.
 */
export function gateTargets(failover: FailoverSection | null, offDelay: number): TargetVerdict[] {
  const configs = failover?.configurations ?? [];
  const find = (name: string): FailoverConfigResult | undefined => configs.find((c) => c.name === name);
  const verdicts: TargetVerdict[] = [];
  const bmcs = `BMCs powering off ${offDelay} ms after acknowledging`;
  for (const name of ['hotspare-silent-port', 'hotspare-hung']) {
    const c = find(name);
    if (c === undefined) continue;
    const beyond = c.breakdown.beyondBmcMs?.median ?? null;
    verdicts.push({
      target: `the confirmed gate adds at most 50 ms to the BMC's own off time (${name}, ${bmcs})`,
      met: beyond === null || offDelay <= 0 ? null : beyond <= 50,
      measured:
        offDelay <= 0
          ? 'the BMCs powered off at once in this run (BENCH_BMC_OFF_DELAY_MS=0)'
          : `median ${fmt(beyond, 'ms')} beyond detection and the BMC's own ${fmt(c.breakdown.bmcOffMs?.median ?? null, 'ms')} (outage median ${fmt(c.outageMs?.median ?? null, 'ms')}, ${c.breakdown.beyondBmcMs?.n ?? 0} runs that waited for the power)`,
    });
  }
  const slowest = find('keepalived-default')?.outageMs?.median ?? null;
  for (const name of ['hotspare-isolated-silent-port', 'hotspare-isolated-hung']) {
    const value = find(name)?.outageMs?.median ?? null;
    if (find(name) === undefined) continue;
    verdicts.push({
      target: `the isolated gate's outage at most 1/10 of keepalived's defaults (${name}, ${bmcs})`,
      met: value === null || slowest === null ? null : value <= slowest / 10,
      measured: `${name} median ${fmt(value, 'ms')} vs keepalived-default median ${fmt(slowest, 'ms')} / 10`,
    });
  }
  const fast = find('keepalived-fast')?.outageMs?.median ?? null;
  for (const name of ['hotspare-lease', 'hotspare-lease-tight', 'hotspare-lease-silent-port']) {
    const value = find(name)?.outageMs?.median ?? null;
    if (find(name) === undefined) continue;
    verdicts.push({
      target: `the lease gate's outage below keepalived's fastest setting (${name}, ${bmcs})`,
      met: value === null || fast === null ? null : value < fast,
      measured: `${name} median ${fmt(value, 'ms')} vs keepalived-fast median ${fmt(fast, 'ms')}`,
    });
  }
  const ours = configs.filter((c) => c.name.startsWith('hotspare') && c.error === null);
  if (ours.length > 0) {
    const withTwo = ours.filter((c) => c.splitBrain > 0);
    verdicts.push({
      target: 'no two connected holders of the primary address in any configuration of ours (ground truth)',
      met: withTwo.length === 0,
      measured:
        withTwo.length === 0
          ? `0 in ${ours.length} configurations`
          : withTwo.map((c) => `${c.name}: ${c.splitBrain} interval(s)`).join('; '),
    });
  }
  return verdicts;
}
