import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import { exec, monoUs } from './exec.js';
import type { Lab } from './lab.js';

export interface Stats {
  n: number;
  minMs: number;
  medianMs: number;
  maxMs: number;
}

export function stats(samplesMs: readonly number[]): Stats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    n: sorted.length,
    minMs: round(sorted[0] ?? NaN),
    medianMs: round(at(0.5)),
    maxMs: round(sorted.at(-1) ?? NaN),
  };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export interface BmcMeasurement {
  /** `IpmitoolBmc.status()` from `from`'s namespace to `target`'s BMC. */
  status: Stats;
  /** `IpmitoolBmc.off()` (the power off includes killing the agent and taking the links down). */
  off: Stats;
  on: Stats;
  /** Harness-side: power-off request to links down (ip batch past the commands). */
  harnessOff: Stats;
  /** Power-off request (harness) to the eth0 link-down event seen by `ip monitor`. */
  linkDownEvent: Stats;
  /** The chassis program alone: `chassis.sh NODE get power` (mean of 50 runs in a shell loop). */
  chassisGetMs: number;
  /** `chassis.sh NODE set power 1` while on: the socat round trip to the harness (mean of 50). */
  chassisSetNoopMs: number;
}

/** Measures the BMC path of the lab: `rounds` status, off and on calls through ipmitool. */
export async function measureBmc(lab: Lab, from: string, target: string, rounds: number): Promise<BmcMeasurement> {
  const bmc = new IpmitoolBmc(lab.bmcOptions(target, 5000), { command: lab.ipmitoolCommand(from) });
  const status: number[] = [];
  const off: number[] = [];
  const on: number[] = [];
  const harnessOff: number[] = [];
  const linkDown: number[] = [];
  const timed = async (samples: number[], action: () => Promise<unknown>): Promise<void> => {
    const started = monoUs();
    await action();
    samples.push((monoUs() - started) / 1000);
  };
  for (let round = 0; round < rounds; round += 1) {
    await timed(status, () => bmc.status());
    await timed(off, () => bmc.off());
    const timing = lab.powerLog.at(-1);
    if (timing !== undefined && !timing.on) {
      harnessOff.push((timing.doneUs - timing.requestedUs) / 1000);
      const event = await lab
        .waitFor(
          () =>
            lab.events.find(
              (e) =>
                e.server === target &&
                e.ifname === 'eth0' &&
                e.kind === 'link' &&
                !e.up &&
                e.atUs >= timing.requestedUs,
            ),
          2000,
          'eth0 down event',
        )
        .catch(() => undefined);
      if (event !== undefined) {
        linkDown.push((event.atUs - timing.requestedUs) / 1000);
      }
    }
    await timed(on, () => bmc.on());
  }
  const script = `${lab.runDir}/chassis.sh`;
  return {
    status: stats(status),
    off: stats(off),
    on: stats(on),
    harnessOff: stats(harnessOff),
    linkDownEvent: stats(linkDown),
    chassisGetMs: await loopMs(script, [target, 'get', 'power'], 50),
    chassisSetNoopMs: await loopMs(script, [target, 'set', 'power', '1'], 50),
  };
}

/** Mean runtime of a program run `count` times in a shell loop (no Node spawn cost); a failed run is named with its output. */
async function loopMs(program: string, args: readonly string[], count: number): Promise<number> {
  const quoted = [program, ...args].map((arg) => `'${arg}'`).join(' ');
  const script = `t0=$(date +%s%N); i=0; while [ $i -lt ${count} ]; do out=$(${quoted}) || { echo "run $i: $out" >&2; exit 1; }; i=$((i+1)); done; t1=$(date +%s%N); echo $(( (t1 - t0) / ${count} ))`;
  const { stdout } = await exec('sh', ['-c', script]);
  return round(Number(stdout.trim()) / 1e6);
}
