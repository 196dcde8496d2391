import { initialState, step } from '../../../src/role/index.js';
import type { Action, Event, MachineConfig, RoleState } from '../../../src/role/index.js';
import type { RoleRecord } from '../../../hal/store/index.js';

export const MS = 1000;

export function machine(overrides: Partial<MachineConfig> = {}): MachineConfig {
  return {
    self: 'b',
    selfMac: '02:00:00:00:00:0b',
    members: [
      { name: 'a', mac: '02:00:00:00:00:0a' },
      { name: 'b', mac: '02:00:00:00:00:0b' },
      { name: 'c', mac: '02:00:00:00:00:0c' },
    ],
    uplink: false,
    peer: null,
    probe: { intervalUs: 10 * MS, timeoutUs: 10 * MS, misses: 3 },
    fencing: {
      required: true,
      confirmUs: 10 * MS,
      retryUs: 500 * MS,
      retryMaxUs: 4000 * MS,
      powerCycle: 'off-on',
      powerTimeoutUs: 20_000 * MS,
      gate: 'confirmed',
    },
    lease: null,
    syncEveryProbes: 5,
    finalSyncUs: 0,
    boot: { jitterUs: 200 * MS, checkUs: 50 * MS },
    spare: { checkUs: 1000 * MS, jitterUs: 500 * MS },
    defendUs: 0,
    health: null,
    announceRefreshUs: 0,
    ...overrides,
  };
}

/** An event of `T` whose `id` the Run fills in when it is left out. */
type Fed<T extends 'check-result' | 'fence-result'> = Omit<Extract<Event, { type: T }>, 'id'> & { id?: number };

/** Feeds events in order, collecting every action. */
export class Run {
  state: RoleState;
  actions: Action[] = [];
  last: Action[] = [];

  constructor(
    readonly config: MachineConfig,
    seed = 42,
  ) {
    this.state = initialState(seed);
  }

  /**
   * Feeds an event; a check-result without `id` answers the latest check, a fence-result
   * without `id` the latest fence of its target.
   */
  feed(input: Event | Fed<'check-result'> | Fed<'fence-result'>): this {
    const event: Event =
      input.type === 'check-result'
        ? { ...input, id: input.id ?? this.state.checkSeq }
        : input.type === 'fence-result'
          ? { ...input, id: input.id ?? this.state.fenceIds[input.target] ?? 0 }
          : input;
    const { state, actions } = step(this.config, this.state, event);
    this.state = state;
    this.last = actions;
    this.actions.push(...actions);
    return this;
  }

  types(): string[] {
    return this.last.filter((a) => a.type !== 'log' && a.type !== 'transition').map((a) => a.type);
  }

  find<T extends Action['type']>(type: T): Extract<Action, { type: T }> | undefined {
    return this.last.find((a): a is Extract<Action, { type: T }> => a.type === type);
  }

  timer(name: string): number | undefined {
    const set = this.last.filter(
      (a): a is Extract<Action, { type: 'set-timer' }> => a.type === 'set-timer' && a.timer === name,
    );
    return set[set.length - 1]?.atUs;
  }
}

export function record(role: RoleRecord['role'], epoch = 3): RoleRecord {
  return { role, epoch, reason: 'test', atMs: 0 };
}

/** Boots a machine with the given persisted role up to the first conflict check. */
export function bootTo(role: RoleRecord['role'] | null, config = machine()): Run {
  const run = new Run(config);
  run.feed({ type: 'boot', nowUs: 0, record: role === null ? null : record(role), linkUp: true, bootId: 'boot-1' });
  run.feed({ type: 'timer', nowUs: 100 * MS, timer: 'boot-delay' });
  // With an uplink configured, the uplink host answers first (the usual case).
  if (config.uplink && run.state.phase === 'checking-uplink')
    run.feed({
      type: 'check-result',
      nowUs: 120 * MS,
      startedUs: 100 * MS,
      address: 'uplink',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:01'],
    });
  return run;
}

/** What the Prober hands over: `answered` answers (the last at `nowUs`), then at most one miss. */
export function batch(nowUs: number, answered: number, missed: number | null = null): Event {
  return { type: 'probe-batch', nowUs, answered, lastReplyUs: answered > 0 ? nowUs : null, missed };
}

/** A machine operating as monitor with `a` known as the holder of the primary address. */
/** Booted as monitor: the monitor address was silent at 150 ms; no probe answered yet. */
export function becameMonitor(config = machine()): Run {
  const run = bootTo('monitor', config);
  run.feed({
    type: 'check-result',
    nowUs: 150 * MS,
    startedUs: 150 * MS - 10 * MS,
    address: 'monitor',
    taken: false,
    evidence: [],
  });
  return run;
}

export function monitoring(config = machine()): Run {
  const run = becameMonitor(config);
  run.feed(batch(150 * MS + 100, 1));
  run.feed({ type: 'holder', nowUs: 150 * MS + 200, mac: '02:00:00:00:00:0A' });
  return run;
}

/** Lets `n` probes go unanswered, the first sent at `fromUs`, one interval apart. */
export function miss(run: Run, n: number, fromUs: number): void {
  for (let i = 0; i < n; i++) {
    const t = fromUs + i * run.config.probe.intervalUs;
    run.feed(batch(t + run.config.probe.timeoutUs, 0, i + 2));
  }
}
