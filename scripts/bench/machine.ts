/** Facts about the machine a benchmark ran on, recorded with its results. */
import { readFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';

export interface LoadSample {
  at: string;
  loadavg: [number, number, number];
}

export interface MachineFacts {
  hostname: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  os: string;
  packages: Record<string, string>;
  clockTicksPerSecond: number;
}

export function loadSample(): LoadSample {
  const [one, five, fifteen] = loadavg();
  return { at: new Date().toISOString(), loadavg: [round2(one ?? 0), round2(five ?? 0), round2(fifteen ?? 0)] };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Version of a Debian package, or "missing". */
export function debVersion(name: string): string {
  try {
    return (
      execFileSync('dpkg-query', ['-W', '-f', '${Version}', name], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || 'missing'
    );
  } catch {
    return 'missing';
  }
}

export function clockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

export function machineFacts(): MachineFacts {
  const cpu = cpus();
  return {
    hostname: hostname(),
    nproc: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: round2(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    os: osName(),
    packages: Object.fromEntries(
      ['keepalived', 'fence-agents', 'stress-ng', 'ipmitool', 'openipmi', 'iproute2'].map((name) => [
        name,
        debVersion(name),
      ]),
    ),
    clockTicksPerSecond: clockTicks(),
  };
}

export interface CpuSnapshot {
  busy: number;
  total: number;
  steal: number;
}

/** Whole-machine CPU counters from /proc/stat (all cores). */
export function cpuSnapshot(): CpuSnapshot {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.slice(0, 8).reduce((sum, v) => sum + v, 0);
    return { busy: total - idle, total, steal: values[7] ?? 0 };
  } catch {
    return { busy: 0, total: 0, steal: 0 };
  }
}

/** Percent of all cores busy (and stolen by the hypervisor) between two snapshots. */
export function machineBusy(before: CpuSnapshot, after: CpuSnapshot): { busyPercent: number; stealPercent: number } {
  const total = after.total - before.total;
  if (total <= 0) return { busyPercent: NaN, stealPercent: NaN };
  return {
    busyPercent: round2(((after.busy - before.busy) / total) * 100),
    stealPercent: round2(((after.steal - before.steal) / total) * 100),
  };
}
