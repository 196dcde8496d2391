/** The benchmark's machine-readable result (bench-results/latest.json). */
import type { FailoverSection } from './failover.js';
import type { FalseAlarmRun, FalseAlarmSection } from './false-alarms.js';
import type { FencingSection } from './fencing.js';
import type { LoadSample, MachineFacts } from './machine.js';
import type { BenchParams } from './params.js';
import type { ProbeCoreMeasurement } from './probe-core.js';
import type { FloorMeasurement } from './probe-floor.js';

export interface TargetVerdict {
  target: string;
  /** true / false; null when the measurement is missing. */
  met: boolean | null;
  measured: string;
}

export interface BenchResults {
  schema: 'hotspare-bench/1';
  command: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  machine: MachineFacts;
  load: { start: LoadSample; end: LoadSample; samples: LoadSample[] };
  machineBusyPercent: number;
  params: Omit<BenchParams, 'sections'> & { sections: string[] };
  targets: TargetVerdict[];
  fencing: FencingSection | null;
  probeCore: { measurements: ProbeCoreMeasurement[]; floor: FloorMeasurement[] } | null;
  falseAlarms: FalseAlarmSection | null;
  /** The lease gate's false-alarm run (absent in results before it existed). */
  leaseAlarms?: FalseAlarmRun | null;
  failover: FailoverSection | null;
  errors: Array<{ section: string; error: string }>;
  notes: string[];
}
