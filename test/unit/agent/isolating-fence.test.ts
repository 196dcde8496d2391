/**
 * The `isolated` gate's fence with fake devices on a virtual clock: the port is reconnected
 * only after the power reads off AND the cut's own read-back is over (a fast power-off used
 * to reconnect the port before the read-back, which then reported a false "still connected"
 * alarm), and a power-off that fails after the cut is retried until it succeeds, the port
 * staying shut and the power-on waiting meanwhile (the fault campaign left a BMC-down
 * server cut off for good).
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import type { Isolator, IsolatorFactory, IsolationState } from '../../../hal/isolation/index.js';
import { IsolatingFence } from '../../../src/agent/isolating-fence.js';
import type { FenceDone } from '../../../src/agent/power.js';

const MS = 1000;

interface Rig {
  clock: VirtualClock;
  fence: IsolatingFence;
  journal: string[];
  port: { state: IsolationState };
  /** Results of the next power-offs, in order: delay and outcome. */
  offs: Array<{ afterUs: number; ok: boolean }>;
  logs: Array<{ level: string; event: string }>;
}

function rig(statusAfterUs: number): Rig {
  const clock = new VirtualClock();
  const journal: string[] = [];
  const port = { state: 'connected' as IsolationState };
  const offs: Rig['offs'] = [];
  const logs: Rig['logs'] = [];
  const after = (us: number): Promise<void> => new Promise((resolve) => clock.at(clock.nowUs() + us, resolve));
  const isolator: Isolator = {
    member: 'a',
    device: 'fake switch port 7',
    isolate: async () => {
      journal.push('cut');
      port.state = 'isolated';
    },
    restore: async () => {
      journal.push('restore');
      port.state = 'connected';
    },
    status: async () => {
      await after(statusAfterUs);
      journal.push(`read ${port.state}`);
      return port.state;
    },
  };
  const isolators: IsolatorFactory = { has: (m) => m === 'a', open: () => isolator };
  const power = {
    fence: async (target: string): Promise<FenceDone> => {
      const next = offs.shift() ?? { afterUs: 10 * MS, ok: true };
      await after(next.afterUs);
      journal.push(next.ok ? `off ${target}` : `off ${target} failed`);
      if (!next.ok) throw new Error('bmc of a: off: timeout');
      return { detail: 'off', offUs: next.afterUs, polls: 1, level: 1, attempts: [] };
    },
    powerOn: (target: string): void => {
      journal.push(`on ${target}`);
    },
    // The fence history (status) is PowerControl's; not under test here.
    recordIsolation: (): void => undefined,
  };
  const fence = new IsolatingFence({
    power,
    isolators,
    clock,
    gate: 'isolated',
    log: (level, event) => logs.push({ level, event }),
  });
  return { clock, fence, journal, port, offs, logs };
}

describe('isolating fence', () => {
  it('a power-off faster than the cut read-back: the port is reconnected after the read-back, no false alarm', async () => {
    const r = rig(50 * MS);
    r.offs.push({ afterUs: 5 * MS, ok: true });
    const outcome = r.fence.fence('a');
    await r.clock.runFor(200 * MS);
    expect((await outcome).by).to.equal('power');
    expect(r.journal).to.deep.equal(['cut', 'off a', 'read isolated', 'restore']);
    expect(r.logs.filter((l) => l.level === 'error')).to.deep.equal([]);
  });

  it('a failed power-off after the cut is retried with backoff; the port stays shut and the power-on waits until it succeeds', async () => {
    const r = rig(1 * MS);
    r.offs.push({ afterUs: 10 * MS, ok: false }, { afterUs: 10 * MS, ok: false }, { afterUs: 10 * MS, ok: true });
    const outcome = r.fence.fence('a');
    await r.clock.runFor(20 * MS);
    expect((await outcome).by).to.equal('isolation');
    r.fence.powerOn('a');
    // First retry 1 s after the failure, the second 2 s after that.
    await r.clock.runFor(1_500 * MS);
    expect(r.journal).to.deep.equal(['cut', 'read isolated', 'off a failed', 'off a failed']);
    expect(r.port.state).to.equal('isolated');
    await r.clock.runFor(2_500 * MS);
    expect(r.journal).to.deep.equal([
      'cut',
      'read isolated',
      'off a failed',
      'off a failed',
      'off a',
      'restore',
      'on a',
    ]);
    expect(r.logs.filter((l) => l.event === 'fence-power-failed')).to.have.length(2);
  });

  it('a newer fence of the same member stops the older one retrying', async () => {
    const r = rig(1 * MS);
    r.offs.push({ afterUs: 10 * MS, ok: false }, { afterUs: 10 * MS, ok: true });
    void r.fence.fence('a');
    await r.clock.runFor(20 * MS);
    void r.fence.fence('a');
    await r.clock.runFor(5_000 * MS);
    // One failure, then the newer fence's off; the old one's retry (at 1 s) gives way.
    expect(r.journal.filter((j) => j.startsWith('off'))).to.deep.equal(['off a failed', 'off a']);
  });
});
