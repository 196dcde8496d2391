/**
 * What the machine itself allows the probe loop, without the agent: wake-up lateness at
 * absolute 10 ms deadlines for the agent's own clock code in an otherwise empty Node process,
 * for a spinning Node variant, and for a native clock_nanosleep loop (normal and SCHED_FIFO),
 * each idle and with the other core saturated. Timers only: no packets, so these run in the
 * root namespace without touching its network.
 */
import { fileURLToPath } from 'node:url';
import { ProcessGroup } from '../lab/children.js';
import { ensureCTool } from './c-tool.js';
import { withCleanup } from './cleanup.js';
import { startStress } from './stress.js';
import { round } from './stats.js';

export interface FloorMeasurement {
  method: 'node-agent-clock' | 'node-spin' | 'native' | 'native-fifo';
  description: string;
  condition: 'idle' | 'stressed';
  intervalMs: number;
  seconds: number;
  samples: number;
  latenessUs: { p50: number; p99: number; max: number } | null;
  cpuPercent: number | null;
  error: string | null;
}

async function nativeBinary(): Promise<string> {
  return ensureCTool('bench-timer', 'timer-native.c');
}

const METHODS: Array<{ method: FloorMeasurement['method']; description: string }> = [
  {
    method: 'node-agent-clock',
    description:
      "the agent's MonotonicClock.at (whole-ms setTimeout, re-armed, then setImmediate) in an empty Node process",
  },
  {
    method: 'node-spin',
    description: 'Node: setTimeout to 1.5 ms before the deadline, then setImmediate turns until due',
  },
  { method: 'native', description: 'C: clock_nanosleep(TIMER_ABSTIME), 1 ns timer slack, normal priority' },
  { method: 'native-fifo', description: 'C: the same at SCHED_FIFO priority 10' },
];

async function runOne(
  group: ProcessGroup,
  argv: string[],
  timeoutMs: number,
): Promise<{ samples: number; p50: number; p99: number; max: number; cpuPercent: number }> {
  const child = group.spawn({ name: 'probe-floor', argv });
  let out = '';
  let err = '';
  child.child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const timer = setTimeout(() => void child.stop(500), timeoutMs);
  await child.exited;
  clearTimeout(timer);
  const line = out.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as { samples: number; p50: number; p99: number; max: number; cpuPercent: number };
  } catch {
    throw new Error(`${argv.join(' ')}: no result (${err.trim().slice(0, 200)})`);
  }
}

export async function probeFloor(
  seconds: number,
  log: (line: string) => void,
  intervalMs = 10,
): Promise<FloorMeasurement[]> {
  const native = await nativeBinary();
  const nodeScript = fileURLToPath(new URL('./timer-node.js', import.meta.url));
  const group = new ProcessGroup();
  const results: FloorMeasurement[] = [];
  await withCleanup(
    () => group.stopAll(500),
    async () => {
      for (const condition of ['idle', 'stressed'] as const) {
        const stress = condition === 'stressed' ? await startStress(1, METHODS.length * (seconds + 5) + 10, '1') : null;
        try {
          for (const { method, description } of METHODS) {
            const argv =
              method === 'node-agent-clock' || method === 'node-spin'
                ? [
                    process.execPath,
                    nodeScript,
                    method === 'node-spin' ? 'spin' : 'agent-clock',
                    String(intervalMs),
                    String(seconds),
                  ]
                : [
                    native,
                    String(intervalMs * 1000),
                    String(seconds),
                    ...(method === 'native-fifo' ? ['fifo', '10'] : []),
                  ];
            try {
              const r = await runOne(group, argv, (seconds + 20) * 1000);
              results.push({
                method,
                description,
                condition,
                intervalMs,
                seconds,
                samples: r.samples,
                latenessUs: { p50: round(r.p50, 0), p99: round(r.p99, 0), max: round(r.max, 0) },
                cpuPercent: round(r.cpuPercent, 2),
                error: null,
              });
              log(
                `probe floor: ${method}, ${condition}: lateness p50 ${round(r.p50, 0)} µs, p99 ${round(r.p99, 0)} µs, max ${round(r.max, 0)} µs, CPU ${round(r.cpuPercent, 2)} %`,
              );
            } catch (error) {
              results.push({
                method,
                description,
                condition,
                intervalMs,
                seconds,
                samples: 0,
                latenessUs: null,
                cpuPercent: null,
                error: error instanceof Error ? error.message : String(error),
              });
            }
          }
        } finally {
          await stress?.stop();
        }
      }
    },
  );
  return results;
}
