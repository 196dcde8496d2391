/**
 * The role machine's probing: a Prober runs the cadence (hal/prober) and the machine decides
 * from its `probe-batch` events, asking for `probe-start` and `probe-stop`.
 */
import { expect } from 'chai';
import { batch, bootTo, MS, Run } from './fixtures.js';

/** A monitor that has just started its Prober. */
function monitoringBatched(): Run {
  const run = bootTo('monitor');
  run.feed({
    type: 'check-result',
    nowUs: 150 * MS,
    startedUs: 140 * MS,
    address: 'monitor',
    taken: false,
    evidence: [],
  });
  return run;
}

describe('role machine: probing (a Prober runs the cadence)', () => {
  it('becoming monitor starts the Prober at once, and sets no timer of its own for probes', () => {
    const run = monitoringBatched();
    expect(run.find('probe-start')).to.deep.equal({ type: 'probe-start', atUs: 150 * MS });
    expect(run.last.some((a) => a.type === 'set-timer')).to.equal(false);
  });

  it('answers learn the holder and reset misses; a sync for every multiple of sync.every_probes crossed', () => {
    const run = monitoringBatched();
    run.feed(batch(160 * MS, 1));
    expect(run.types()).to.deep.equal(['lookup-holder']);
    run.feed({ type: 'holder', nowUs: 161 * MS, mac: '02:00:00:00:00:0a' });
    // 1 + 3 = 4: no multiple of 5 crossed.
    run.feed(batch(200 * MS, 3));
    expect(run.types()).to.deep.equal([]);
    // 4 + 12 = 16 crosses 5, 10 and 15: one sync (the latest count), one holder refresh.
    run.feed(batch(330 * MS, 12));
    expect(run.types()).to.deep.equal(['lookup-holder', 'sync']);
    expect(run.find('sync')?.okProbes).to.equal(16);
    expect(run.state.probe.okProbes).to.equal(16);
    expect(run.state.probe.lastReplyUs).to.equal(330 * MS);
  });

  it('answers before a miss in the same batch count first: the miss is the first of a new run', () => {
    const run = monitoringBatched();
    run.feed({ type: 'holder', nowUs: 151 * MS, mac: '02:00:00:00:00:0a' });
    run.feed(batch(160 * MS, 0, 1));
    run.feed(batch(170 * MS, 0, 2));
    expect(run.state.probe.misses).to.equal(2);
    // Answers (the primary came back), then a new miss: 1, not 3, so no fence.
    run.feed(batch(200 * MS, 2, 5));
    expect(run.state.probe.misses).to.equal(1);
    expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
  });

  it('probe.misses misses in a row fence the holder; the takeover stops the Prober before it persists', () => {
    const run = monitoringBatched();
    run.feed(batch(160 * MS, 1));
    run.feed({ type: 'holder', nowUs: 161 * MS, mac: '02:00:00:00:00:0a' });
    run.feed(batch(180 * MS, 0, 3));
    run.feed(batch(190 * MS, 0, 4));
    expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
    run.feed(batch(200 * MS, 0, 5));
    expect(run.find('fence')).to.deep.equal({ type: 'fence', id: 1, target: 'a' });
    run.feed({ type: 'fence-result', nowUs: 230 * MS, target: 'a', ok: true, detail: 'off' });
    run.feed({
      type: 'check-result',
      nowUs: 245 * MS,
      startedUs: 232 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    const types = run.last.map((a) => a.type);
    expect(types.indexOf('probe-stop')).to.be.above(-1).and.below(types.indexOf('persist'));
    // A batch the Prober queued before it stopped changes nothing now.
    const before = run.state;
    run.feed(batch(246 * MS, 0, 9));
    expect(run.state).to.equal(before);
  });

  it('maintenance stops the Prober and ignores its batches; off starts it again', () => {
    const run = monitoringBatched();
    run.feed({ type: 'command', nowUs: 160 * MS, command: 'maintenance-on' });
    expect(run.types()).to.include('probe-stop');
    const before = run.state;
    run.feed(batch(170 * MS, 0, 1));
    expect(run.state).to.equal(before);
    run.feed({ type: 'command', nowUs: 180 * MS, command: 'maintenance-off' });
    expect(run.find('probe-start')).to.deep.equal({ type: 'probe-start', atUs: 180 * MS });
  });

  it('link down stops the Prober with every timer', () => {
    const run = monitoringBatched();
    run.feed({ type: 'link', nowUs: 160 * MS, up: false });
    expect(run.types()).to.include('probe-stop');
    expect(run.state.phase).to.equal('link-down');
  });

  it('a Prober that fails: releases the monitor address and halts, never fences on its silence', () => {
    const run = monitoringBatched();
    run.feed({ type: 'holder', nowUs: 151 * MS, mac: '02:00:00:00:00:0a' });
    run.feed({ type: 'probe-failed', nowUs: 160 * MS, detail: 'ppoll: Bad file descriptor' });
    expect(run.state.phase).to.equal('halted');
    expect(run.last).to.deep.include({ type: 'release', address: 'monitor' });
    expect(run.types()).to.not.include('fence');
    const log = run.last.find((a) => a.type === 'log' && a.event === 'probe-failed');
    expect(log).to.not.equal(undefined);
  });
});
