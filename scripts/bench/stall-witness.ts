/**
 * The stall witness (./stall-witness.c) as a child of the benchmark: a SCHED_FIFO 99 thread on
 * each CPU that reports every wake-up later than a threshold. What it sees, no thread of the
 * lab could have run through: the false-alarm row sets each lease loss beside the stalls of
 * the moments before it, so a loss the machine caused is told from one the agent caused.
 */
import { createInterface } from 'node:readline';
import { ProcessGroup } from '../lab/children.js';
import { ensureCTool } from './c-tool.js';
import { onCleanup } from './cleanup.js';

/** One late wake-up: the CPU did not run its highest-priority thread for `lateUs` after `deadlineUs`. */
export interface Stall {
  cpu: number;
  /** CLOCK_MONOTONIC, µs: the agents' and the lab's clock. */
  deadlineUs: number;
  lateUs: number;
}

export interface WitnessCpu {
  cpu: number;
  wakeups: number;
  over: number;
  maxLateUs: number;
}

export interface WitnessReport {
  thresholdUs: number;
  stalls: Stall[];
  /** Per CPU; empty when the witness did not say (it failed: see `error`). */
  cpus: WitnessCpu[];
  error: string | null;
}

export interface StallWitness {
  stop(): Promise<WitnessReport>;
}

/** The witness, built when `make bench` has not built it or its source is newer (./c-tool.ts). */
export async function ensureWitness(): Promise<string> {
  return ensureCTool('bench-stall-witness', 'stall-witness.c', ['-pthread']);
}

function isStall(value: unknown): value is Stall {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['cpu'] === 'number' && typeof v['deadlineUs'] === 'number' && typeof v['lateUs'] === 'number';
}

/** Starts the witness for at most `seconds` (its own bound), reporting wake-ups later than `thresholdUs`. */
export async function startStallWitness(thresholdUs: number, seconds: number): Promise<StallWitness> {
  const binary = await ensureWitness();
  const group = new ProcessGroup();
  const child = group.spawn({
    name: 'stall-witness',
    argv: [binary, String(Math.round(thresholdUs)), String(Math.ceil(seconds))],
  });
  const stalls: Stall[] = [];
  let cpus: WitnessCpu[] = [];
  let stderr = '';
  const lines = child.child.stdout === null ? null : createInterface({ input: child.child.stdout });
  lines?.on('line', (line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (isStall(parsed)) stalls.push(parsed);
    else if (typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { summary?: unknown }).summary))
      cpus = (parsed as { summary: WitnessCpu[] }).summary;
  });
  child.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const closed = lines === null ? Promise.resolve() : new Promise<void>((done) => lines.once('close', done));
  const stop = async (): Promise<void> => {
    await child.stop(2000);
  };
  const remove = onCleanup(stop);
  return {
    stop: async () => {
      remove();
      const exit = await child.stop(2000);
      await closed;
      const failed = cpus.length === 0;
      return {
        thresholdUs,
        stalls,
        cpus,
        error: failed
          ? `the stall witness ended without its summary (exit ${String(exit.code ?? exit.signal)}): ${stderr.trim() || 'no message'}`
          : null,
      };
    },
  };
}

/**
 * The longest stall of each CPU that overlaps [fromUs, toUs] (0 for a CPU without one): what
 * the machine took from that interval.
 */
export function stallsWithin(report: WitnessReport, fromUs: number, toUs: number): number[] {
  const cpuCount = Math.max(report.cpus.length, ...report.stalls.map((s) => s.cpu + 1));
  const longest = new Array<number>(cpuCount).fill(0);
  for (const s of report.stalls) {
    const endUs = s.deadlineUs + s.lateUs;
    if (endUs < fromUs || s.deadlineUs > toUs) continue;
    longest[s.cpu] = Math.max(longest[s.cpu] ?? 0, s.lateUs);
  }
  return longest;
}
