/**
 * The fault campaign's schedule: every fault, its start, duration, wanted target and
 * parameters, drawn from one seed. Pure: the same seed and options give the same schedule
 * (which server a fault lands on is decided when it starts, from who holds what then).
 */
import { nextRandom } from '../../hal/base/random.js';

export const SOAK_FAULT_KINDS = [
  'power-loss',
  'agent-crash',
  'agent-hang',
  'frozen-server',
  'silent-port',
  'one-way-loss',
  'mgmt-partition',
  'link-flap',
  'bmc-down',
  'bmc-slow',
  'lan-impair',
  'power-cycle-all',
  'disk-full',
  'clock-step',
  'forged-arp',
] as const;
export type SoakFaultKind = (typeof SOAK_FAULT_KINDS)[number];

/** Faults on one server (one at a time per server) and faults on the whole cluster. */
export const SERVER_FAULTS: ReadonlySet<SoakFaultKind> = new Set([
  'power-loss',
  'agent-crash',
  'agent-hang',
  'frozen-server',
  'silent-port',
  'one-way-loss',
  'link-flap',
]);
/** Per-server faults of the BMC (a slot of their own) and of the state dir (another). */
export const BMC_FAULTS: ReadonlySet<SoakFaultKind> = new Set(['bmc-down', 'bmc-slow']);
/** Faults that need the LAN bridge's own port states: not while the user-space impairing switch carries the LAN. */
export const BRIDGE_FAULTS: ReadonlySet<SoakFaultKind> = new Set(['frozen-server', 'silent-port', 'link-flap']);

export type TargetRole = 'primary' | 'monitor' | 'spare' | 'any';

export interface PlannedFault {
  /** 1-based, in start order. */
  id: number;
  kind: SoakFaultKind;
  /** Ms after the campaign's start. */
  atMs: number;
  /** How long the fault lasts (0: an instant fault, e.g. a crash or a clock step). */
  durationMs: number;
  /** Which server it should hit, by the role it has when the fault starts; null: the cluster. */
  want: TargetRole | null;
  /** Kind-specific parameters. */
  params: Record<string, number>;
}

export interface ScheduleOptions {
  seed: number;
  /** How many faults to plan. */
  count: number;
  /** Mean time between fault starts (exponential gaps, at least 100 ms). */
  meanGapMs: number;
}

/** Relative frequency of each kind. */
const WEIGHTS: Record<SoakFaultKind, number> = {
  'power-loss': 10,
  'agent-crash': 8,
  'agent-hang': 8,
  'frozen-server': 6,
  'silent-port': 7,
  'one-way-loss': 6,
  'mgmt-partition': 4,
  'link-flap': 7,
  'bmc-down': 6,
  'bmc-slow': 5,
  'lan-impair': 5,
  'power-cycle-all': 2,
  'disk-full': 6,
  'clock-step': 8,
  'forged-arp': 5,
};

class Rng {
  constructor(private state: number) {}
  next(): number {
    const { value, seed } = nextRandom(this.state);
    this.state = seed;
    return value;
  }
  between(low: number, high: number): number {
    return Math.round(low + (high - low) * this.next());
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

function pickKind(rng: Rng): SoakFaultKind {
  const total = SOAK_FAULT_KINDS.reduce((sum, kind) => sum + WEIGHTS[kind], 0);
  let draw = rng.next() * total;
  for (const kind of SOAK_FAULT_KINDS) {
    draw -= WEIGHTS[kind];
    if (draw < 0) return kind;
  }
  return 'power-loss';
}

/** Mostly the primary (where faults matter), sometimes the monitor, a spare or anyone. */
function pickRole(rng: Rng, primaryShare = 0.55): TargetRole {
  const draw = rng.next();
  if (draw < primaryShare) return 'primary';
  if (draw < primaryShare + 0.25) return 'monitor';
  if (draw < primaryShare + 0.35) return 'spare';
  return 'any';
}

function plan(rng: Rng, kind: SoakFaultKind): Pick<PlannedFault, 'durationMs' | 'want' | 'params'> {
  switch (kind) {
    case 'power-loss':
      return { durationMs: rng.between(1000, 8000), want: pickRole(rng), params: {} };
    case 'agent-crash':
      // The lab restarts a killed agent after 200 ms (Restart=always); the slot is held a while
      // so one server is not killed faster than the lab's restart limit (5 in 10 s) allows.
      return { durationMs: rng.between(1500, 3000), want: pickRole(rng), params: {} };
    case 'agent-hang':
      return { durationMs: rng.between(300, 6000), want: pickRole(rng), params: {} };
    case 'frozen-server':
      return { durationMs: rng.between(500, 6000), want: pickRole(rng, 0.7), params: {} };
    case 'silent-port':
      return { durationMs: rng.between(500, 8000), want: pickRole(rng), params: {} };
    case 'one-way-loss':
      return { durationMs: rng.between(500, 5000), want: 'primary', params: {} };
    case 'mgmt-partition':
      return { durationMs: rng.between(2000, 15_000), want: null, params: {} };
    case 'link-flap':
      return { durationMs: 0, want: pickRole(rng), params: { flaps: rng.between(2, 6), downMs: rng.between(30, 800) } };
    case 'bmc-down':
      return { durationMs: rng.between(2000, 20_000), want: pickRole(rng), params: {} };
    case 'bmc-slow':
      return {
        durationMs: rng.between(5000, 30_000),
        want: pickRole(rng),
        params: { offDelayMs: rng.between(1000, 6000) },
      };
    case 'lan-impair':
      return {
        durationMs: rng.between(3000, 15_000),
        want: null,
        params: {
          lossPct: rng.between(1, 5),
          delayMs: rng.between(0, 4),
          jitterMs: rng.between(0, 3),
          seed: rng.between(1, 1_000_000),
        },
      };
    case 'power-cycle-all':
      return { durationMs: rng.between(1000, 3000), want: null, params: {} };
    case 'disk-full':
      return { durationMs: rng.between(2000, 20_000), want: pickRole(rng, 0.3), params: {} };
    case 'clock-step': {
      const magnitude = rng.pick([1000, 30_000, 600_000, 3_600_000, 86_400_000]);
      return { durationMs: 0, want: pickRole(rng, 0.4), params: { stepMs: rng.next() < 0.5 ? -magnitude : magnitude } };
    }
    case 'forged-arp':
      return { durationMs: rng.between(2000, 10_000), want: null, params: { macLow: rng.between(1, 250) } };
  }
}

/** The whole schedule. Link flaps get a duration of their flaps (down and up again each time). */
export function makeSchedule(options: ScheduleOptions): PlannedFault[] {
  const rng = new Rng(options.seed >>> 0);
  const faults: PlannedFault[] = [];
  let atMs = 3000;
  for (let id = 1; id <= options.count; id += 1) {
    const kind = pickKind(rng);
    const planned = plan(rng, kind);
    const durationMs =
      kind === 'link-flap'
        ? (planned.params['flaps'] ?? 1) * ((planned.params['downMs'] ?? 0) + 300)
        : planned.durationMs;
    faults.push({ id, kind, atMs, ...planned, durationMs });
    atMs += Math.max(100, Math.round(-Math.log(1 - rng.next()) * options.meanGapMs));
  }
  return faults;
}
