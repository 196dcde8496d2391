import { expect } from 'chai';
import { switchStallNote } from '../../../scripts/bench/false-alarms.js';
import type { FalseAlarmRun } from '../../../scripts/bench/false-alarms.js';

function run(spuriousFailovers: number, lateMaxUs: number | null, windowMs = 20): FalseAlarmRun {
  const sample = { at: '2026-11-26T00:00:00.000Z', loadavg: [0, 0, 0] as [number, number, number] };
  return {
    probe: { intervalMs: 2, timeoutMs: 6, misses: 7 },
    windowMs,
    seconds: 600,
    spuriousFailovers,
    fences: spuriousFailovers,
    takeovers: spuriousFailovers,
    addressMoves: spuriousFailovers,
    bmcPowerOffs: 0,
    nearMisses: {},
    impairment:
      lateMaxUs === null
        ? null
        : {
            method: 'user-space-hub',
            ports: ['l-a'],
            spec: 'loss 1%',
            counters: { final: true, late_max_us: lateMaxUs },
            note: '',
          },
    stress: 'stress-ng --cpu 2',
    load: { start: sample, end: sample },
    machineBusyPercent: 99,
    error: null,
  } as FalseAlarmRun;
}

describe('bench false alarms: the lab switch stall note', () => {
  it('names a switch that fell behind by more than the window when a run had spurious failovers', () => {
    expect(switchStallNote(run(1, 99_805.4))).to.equal(
      ", while the lab's user-space switch was up to 99.8 ms late (more than the 20 ms window)",
    );
  });

  it('says nothing without spurious failovers, with a switch within the window, or without hub counters (netem)', () => {
    expect(switchStallNote(run(0, 99_805.4))).to.equal('');
    expect(switchStallNote(run(1, 3_400))).to.equal('');
    expect(switchStallNote(run(1, null))).to.equal('');
  });
});
