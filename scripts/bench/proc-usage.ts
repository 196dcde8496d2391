/** CPU time and memory of one process, from /proc (PIDs as the root PID namespace sees them). */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcUsage {
  /** utime + stime, clock ticks (all threads of the process). */
  selfTicks: number;
  /**
   * Children, clock ticks: cutime + cstime (children it waited for) plus utime + stime of its
   * children still running (the long-lived hotspare-arp helper and ip batch), so a child that
   * exits between two readings moves from one part to the other and is counted once.
   */
  childTicks: number;
  rssKiB: number;
  hwmKiB: number;
  atMs: number;
}

export function readUsage(pid: number): ProcUsage | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .trim()
      .split(/\s+/);
    // fields[0] is field 3; utime is field 14, stime 15, cutime 16, cstime 17.
    const at = (field: number): number => Number(fields[field - 3] ?? NaN);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return {
      selfTicks: at(14) + at(15),
      childTicks: at(16) + at(17) + liveChildTicks(pid),
      rssKiB: kib('VmRSS'),
      hwmKiB: kib('VmHWM'),
      atMs: performance.now(),
    };
  } catch {
    return null;
  }
}

/** Percent of one core between two readings. */
export function cpuPercent(
  before: ProcUsage,
  after: ProcUsage,
  ticksPerSecond: number,
  which: 'self' | 'children' = 'self',
): number {
  const ticks = which === 'self' ? after.selfTicks - before.selfTicks : after.childTicks - before.childTicks;
  const seconds = (after.atMs - before.atMs) / 1000;
  return seconds <= 0 ? NaN : (ticks / ticksPerSecond / seconds) * 100;
}

/** utime + stime of the running direct children of `pid`. */
function liveChildTicks(pid: number): number {
  let ticks = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat
        .slice(stat.lastIndexOf(')') + 2)
        .trim()
        .split(/\s+/);
      // fields[1] is field 4 (ppid); utime field 14, stime 15.
      if (Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone in between
    }
  }
  return ticks;
}
