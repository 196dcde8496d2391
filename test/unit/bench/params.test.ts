import { expect } from 'chai';
import { parseLease, readParams } from '../../../scripts/bench/params.js';

describe('bench parameters: BENCH_LEASE and BENCH_CONFIGS', () => {
  it('BENCH_LEASE reads duration/renew/drop in ms, the config defaults unless set', () => {
    expect(parseLease('300/30/10')).to.deep.equal({ durationMs: 300, renewMs: 30, dropMs: 10 });
    expect(readParams({}).lease).to.deep.equal({ durationMs: 100, renewMs: 10, dropMs: 10 });
    expect(readParams({ BENCH_LEASE: '500/50/20' }).lease).to.deep.equal({ durationMs: 500, renewMs: 50, dropMs: 20 });
    expect(parseLease('25/5/5/event-loop')).to.deep.equal({
      durationMs: 25,
      renewMs: 5,
      dropMs: 5,
      thread: 'event-loop',
    });
    expect(parseLease('25/5/5/worker').thread).to.equal('worker');
  });

  it('BENCH_LEASE refuses what the config would refuse, naming the variable', () => {
    for (const bad of ['300/30', '300/x/10', '0/1/1', '300/30/10/1', '100/40/10', '-100/10/10', '25/5/5/fast'])
      expect(() => parseLease(bad), bad).to.throw(/^BENCH_LEASE: /);
  });

  it('BENCH_LEASE_PROBE is interval/timeout/misses, the probe defaults when unset', () => {
    expect(readParams({}).leaseProbe).to.equal(null);
    expect(readParams({ BENCH_LEASE_PROBE: '5/10/3' }).leaseProbe).to.deep.equal({
      intervalMs: 5,
      timeoutMs: 10,
      misses: 3,
    });
    for (const bad of ['5/10', '5/x/3', '5/10/3/1', '0/10/3'])
      expect(() => readParams({ BENCH_LEASE_PROBE: bad }), bad).to.throw(/^BENCH_LEASE_PROBE: /);
  });

  it('BENCH_CONFIGS is a comma list, all when unset', () => {
    expect(readParams({}).configs).to.equal(null);
    expect([...(readParams({ BENCH_CONFIGS: 'hotspare-lease, keepalived-fast' }).configs ?? [])]).to.deep.equal([
      'hotspare-lease',
      'keepalived-fast',
    ]);
  });
});
