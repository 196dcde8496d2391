/**
 * Where the monitor agent's CPU goes: `perf record -e cpu-clock` on its process for a few
 * seconds (when perf is installed), summarised by shared object and by symbol. JIT-compiled
 * JavaScript shows as one "[JIT]" object; V8's interpreter and builtins are inside "node".
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CpuProfile {
  seconds: number;
  samples: number;
  /** Percent of one core the samples add up to (cpu-clock at `frequency` Hz). */
  cpuPercent: number;
  byObject: Array<{ name: string; percent: number }>;
  /** The same samples by kind of code (see `category`). */
  byKind: Record<string, number>;
  topSymbols: Array<{ name: string; percent: number }>;
  error: string | null;
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      file,
      args,
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null
          ? resolve(stdout)
          : reject(new Error(`${file}: ${stderr.trim().slice(0, 300) || error.message}`)),
    ),
  );
}

function parseReport(text: string, limit: number): Array<{ name: string; percent: number }> {
  const rows: Array<{ name: string; percent: number }> = [];
  for (const line of text.split('\n')) {
    const match = /^\s+([\d.]+)%\s+(.+?)\s*$/.exec(line);
    if (match !== null) rows.push({ percent: Number(match[1]), name: (match[2] ?? '').replace(/\s+/g, ' ') });
    if (rows.length >= limit) break;
  }
  return rows;
}

/** Kind of code a `dso [.] symbol` row belongs to. */
export function category(row: string): string {
  if (row.startsWith('[kernel')) return 'kernel (syscalls, wake-ups, page faults, network stack)';
  if (row.startsWith('[JIT]')) return 'optimised JavaScript (JIT)';
  if (/^node \[\.\] Builtins_/.test(row)) return 'V8 builtins and interpreter (unoptimised JavaScript)';
  if (/^node \[\.\] v8::internal::(compiler|maglev|baseline)/.test(row)) return 'V8 compilers';
  if (/^node \[\.\] (v8::|Heap|heap)/.test(row) || /Scavenge|MarkCompact|GC/.test(row)) return 'V8 runtime and GC';
  if (row.startsWith('node ')) return 'Node and libuv (other)';
  if (row.startsWith('libc')) return 'libc (malloc, syscall wrappers)';
  return 'other';
}

export async function profileProcess(pid: number, seconds: number, frequency = 1000): Promise<CpuProfile> {
  const dir = await mkdtemp(join(tmpdir(), 'hotspare-bench-perf-'));
  const data = join(dir, 'perf.data');
  try {
    const recorded = await run(
      'perf',
      [
        'record',
        '-q',
        '-e',
        'cpu-clock',
        '-F',
        String(frequency),
        '-p',
        String(pid),
        '-o',
        data,
        '--',
        'sleep',
        String(seconds),
      ],
      (seconds + 30) * 1000,
    );
    void recorded;
    const header = await run('perf', ['report', '-i', data, '--stdio', '--header-only'], 30_000).catch(() => '');
    const byObject = parseReport(
      await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none'], 60_000),
      12,
    );
    const symbols = parseReport(
      await run('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso,sym', '-g', 'none'], 60_000),
      Infinity,
    );
    const topSymbols = symbols.slice(0, 25);
    const byKind: Record<string, number> = {};
    for (const row of symbols)
      byKind[category(row.name)] = Math.round(((byKind[category(row.name)] ?? 0) + row.percent) * 100) / 100;
    const samples = Number(/sample[s]?\D+(\d+)/i.exec(header)?.[1] ?? NaN);
    const count = await run(
      'perf',
      ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none', '--show-nr-samples'],
      60_000,
    )
      .then((text) =>
        text.split('\n').reduce((sum, line) => sum + Number(/^\s+[\d.]+%\s+(\d+)\s/.exec(line)?.[1] ?? 0), 0),
      )
      .catch(() => NaN);
    const total = Number.isFinite(count) && count > 0 ? count : samples;
    return {
      seconds,
      samples: total,
      cpuPercent: Math.round((total / frequency / seconds) * 10000) / 100,
      byObject,
      byKind,
      topSymbols,
      error: null,
    };
  } catch (error) {
    return {
      seconds,
      samples: 0,
      cpuPercent: NaN,
      byObject: [],
      byKind: {},
      topSymbols: [],
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
