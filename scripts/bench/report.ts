/** A short Markdown summary of a result (bench-results/latest.md, and the README table). Pure. */
import type { PlatformStalls } from './false-alarms.js';
import { longestNearMiss, switchStallNote } from './false-alarms.js';
import { describeSetting } from './params.js';
import type { BenchResults } from './results.js';

const v = (value: number | null | undefined, digits = 1): string =>
  typeof value === 'number' && Number.isFinite(value) ? String(Math.round(value * 10 ** digits) / 10 ** digits) : '–';

export function markdownSummary(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `Measured ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\` (${Math.round(r.durationS / 60)} min) on ${m.hostname}: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, ${m.os}; load average ${r.load.start.loadavg.join(' ')} at the start, ${r.load.end.loadavg.join(' ')} at the end (whole machine ${v(r.machineBusyPercent, 0)} % busy on average: other work was running).`,
  );
  out.push('');
  if (r.failover !== null) {
    out.push(
      "| failover outage, ms | fault | runs | min | median | p95 | max | detection | fence | confirm | takeover | announce | ours without the fence | BMC's own off | ours beyond detection and the BMC | two holders |",
    );
    out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const c of r.failover.configurations) {
      const d = c.outageMs;
      const b = c.breakdown;
      const ours = c.name.startsWith('hotspare');
      out.push(
        `| ${c.name} | ${c.fault ?? 'crash'} | ${d?.n ?? 0} | ${v(d?.min)} | ${v(d?.median)} | ${v(d?.p95)} | ${v(d?.max)} | ${v(b.detectionMs?.median)} | ${v(b.fenceMs?.median)} | ${v(b.confirmMs?.median)} | ${v(b.takeoverMs?.median)} | ${v(b.announceMs?.median)} | ${ours ? v(b.ownMs?.median) : '–'} | ${v(b.bmcOffMs?.median)} | ${v(b.beyondBmcMs?.median)} | ${c.error === null ? c.splitBrain : '–'} |`,
      );
    }
    out.push('');
    out.push(
      `Ratio of medians, ours over theirs: ${Object.entries(r.failover.ratios)
        .map(([k, x]) => `${k} = ${v(x, 2)}`)
        .join(
          '; ',
        )}. Breakdown columns are medians; keepalived's "detection" runs to the address appearing on the new master. Lab BMCs: power off ${r.params.bmcOffDelayMs ?? 0} ms after acknowledging, ${r.params.bmcAckDelayMs ?? 0} ms added to each power command's answer. "BMC's own off": the BMC accepted the off -> the power went (lab power log), when a BMC powered the server off; "beyond": outage less detection less that, only in runs whose takeover waited for the power to go. Two holders: intervals with two servers holding the primary address on connected ports (ground truth).`,
    );
    for (const c of r.failover.configurations) {
      if (c.error !== null) out.push(`- ${c.name} failed: ${c.error}`);
      if (c.skipped.length > 0 || c.unexpectedTakeovers.length > 0)
        out.push(
          `- ${c.name}: ${c.skipped.length} attempts skipped, ${c.unexpectedTakeovers.length} takeovers without a fault (${[...new Set(c.unexpectedTakeovers.map((u) => u.why))].join('; ')})`,
        );
    }
    out.push('');
  }
  if (r.fencing !== null) {
    out.push('| fence and isolation (same lab BMCs and switch), ms | median | p95 | max |');
    out.push('|---|---|---|---|');
    for (const f of r.fencing.methods)
      out.push(`| ${f.name} | ${v(f.ms?.median)} | ${v(f.ms?.p95)} | ${v(f.ms?.max)} |`);
    out.push('');
  }
  if (r.probeCore !== null) {
    out.push(
      '| probe interval | prober | condition | jitter p50 / p99 / max, µs | agent CPU, % of a core | RSS, MiB |',
    );
    out.push('|---|---|---|---|---|---|');
    for (const p of r.probeCore.measurements)
      out.push(
        `| ${p.intervalMs} ms | ${p.engine ?? 'event-loop'} | ${p.condition} | ${v(p.jitterUs.p50, 0)} / ${v(p.jitterUs.p99, 0)} / ${v(p.jitterUs.max, 0)} | ${v(p.cpuPercent, 2)} | ${v(p.rssMiB)} |`,
      );
    out.push('');
    const loops = r.probeCore.measurements.filter((p) => (p.nativeLoop ?? null) !== null);
    if (loops.length > 0) {
      out.push(
        '| the same probe loop in C, beside the agent | condition | send lateness p50 / p99 / max, µs | CPU, % | replies | RTT p50 / p99, µs (agent: p50 / p99) |',
      );
      out.push('|---|---|---|---|---|---|');
      for (const p of loops) {
        const n = p.nativeLoop;
        if (n === null || n === undefined) continue;
        out.push(
          `| ${p.intervalMs} ms | ${p.condition} | ${v(n.latenessUs?.p50, 0)} / ${v(n.latenessUs?.p99, 0)} / ${v(n.latenessUs?.max, 0)} | ${v(n.cpuPercent, 2)} | ${n.replies} / ${n.sent} | ${v(n.rttUs.p50, 0)} / ${v(n.rttUs.p99, 0)} (${v(p.rttUs.median, 0)} / ${v(p.rttUs.p99, 0)}) |`,
        );
      }
      out.push('');
    }
    if (r.probeCore.floor.length > 0) {
      out.push('| timer floor at 10 ms, no agent | condition | lateness p50 / p99 / max, µs | CPU, % |');
      out.push('|---|---|---|---|');
      for (const f of r.probeCore.floor)
        out.push(
          `| ${f.method} | ${f.condition} | ${v(f.latenessUs?.p50, 0)} / ${v(f.latenessUs?.p99, 0)} / ${v(f.latenessUs?.max, 0)} | ${v(f.cpuPercent, 2)} |`,
        );
      out.push('');
    }
  }
  if (r.falseAlarms !== null) {
    const fa = r.falseAlarms;
    out.push(
      `False alarms (stress-ng --cpu 2, LAN loss ${r.params.loss * 100} % and ${r.params.jitterMs} ms jitter per port${fa.defaults.impairment === null ? '' : `, ${fa.defaults.impairment.method}`}): ${v(fa.defaults.spuriousFailovers, 0)} spurious failovers (and ${fa.defaults.uplinkVetoes ?? 'uncounted'} false alarms caught by the uplink check) in ${fa.defaults.seconds} s at the defaults (${describeSetting(fa.defaults.probe)}). ${r.params.ladder.length === 0 ? 'The smallest-window search was not run (BENCH_LADDER=none)' : `Smallest window passing the ${r.params.searchSeconds} s search runs (${fa.searchRule ?? 'zero spurious failovers'}): ${fa.smallest === null ? 'none of the ladder' : describeSetting(fa.smallest)}`}${fa.confirmation === null ? '' : `; over ${fa.confirmation.seconds} s it gave ${v(fa.confirmation.spuriousFailovers, 0)}${switchStallNote(fa.confirmation)}`}. Longest answered run of misses at the defaults: ${longestNearMiss(fa.defaults)}.`,
    );
    out.push('');
  }
  const la = r.leaseAlarms ?? null;
  if (la !== null) {
    out.push(
      `False alarms with the lease gate (${la.gate ?? 'lease'}, same load and LAN): ${v(la.spuriousFailovers, 0)} spurious failovers, ${v(la.leaseLosses ?? NaN, 0)} lease losses, ${la.uplinkVetoes ?? 'uncounted'} false alarms caught by the uplink check and ${la.leaseVetoes ?? 'uncounted'} caught by the lease (refused, or the holder answered during the claim; nobody fenced) in ${la.seconds} s (${describeSetting(la.probe)}).${platformNote(la.platform)}`,
    );
    out.push('');
  }
  out.push('Targets:');
  for (const t of r.targets)
    out.push(`- ${t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'}: ${t.target}: ${t.measured}`);
  return `${out.join('\n')}\n`;
}

/**
 * What the stall witness saw in a false-alarm run: how often each CPU stopped for longer than
 * its threshold, and how many lease losses had such a stall on some CPU just before them.
 */
export function platformNote(p: PlatformStalls | undefined): string {
  if (p === undefined) return '';
  if (p.error !== null) return ` The stall witness failed: ${p.error}.`;
  const cpus = p.cpus
    .map((c) => `CPU ${c.cpu} ${c.over} times (at most ${(c.maxLateUs / 1000).toFixed(1)} ms)`)
    .join(', ');
  const losses = p.incidents.filter((i) => i.event === 'lease-lost');
  const stalled = losses.filter((i) => i.stallsMs.some((ms) => ms > 0));
  const lookMs = p.lookbackUs / 1000;
  return ` The stall witness (SCHED_FIFO 99 on each CPU, above everything in the lab) saw the machine stop for more than ${p.thresholdUs / 1000} ms: ${cpus}; ${stalled.length} of ${losses.length} lease losses had such a stall in the ${lookMs} ms before them (${losses.map((i) => `${i.stallsMs.map((ms) => ms.toFixed(1)).join('/')} ms`).join(', ') || 'none'}, per CPU).`;
}
