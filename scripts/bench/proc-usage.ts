/** CPU time and memory of one process, from /proc (PIDs as the root PID namespace sees them). */
import { readFileSync } from 'node:fs';

export interface ProcUsage {
  /** utime + stime, clock ticks (all threads of the process). */
  selfTicks: number;
  /** cutime + cstime: children it waited for (hotspare-arp, ipmitool), clock ticks. */
  childTicks: number;
  rssKiB: number;
  hwmKiB: number;
  atMs: number;
}

export function readUsage(pid: number): ProcUsage | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
    // fields[0] is field 3; utime is field 14, stime 15, cutime 16, cstime 17.
    const at = (field: number): number => Number(fields[field - 3] ?? NaN);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { selfTicks: at(14) + at(15), childTicks: at(16) + at(17), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), atMs: performance.now() };
  } catch {
    return null;
  }
}

/** Percent of one core between two readings. */
export function cpuPercent(before: ProcUsage, after: ProcUsage, ticksPerSecond: number, which: 'self' | 'children' = 'self'): number {
  const ticks = which === 'self' ? after.selfTicks - before.selfTicks : after.childTicks - before.childTicks;
  const seconds = (after.atMs - before.atMs) / 1000;
  return seconds <= 0 ? NaN : (ticks / ticksPerSecond / seconds) * 100;
}
