/** The takeover issue's per-gate targets, judged from hand-made failover results (no lab). */
import { expect } from 'chai';
import type { FailoverConfigResult, FailoverSection } from '../../../scripts/bench/failover.js';
import type { Distribution } from '../../../scripts/bench/stats.js';
import { distribution } from '../../../scripts/bench/stats.js';
import { gateTargets } from '../../../scripts/bench/targets.js';

function dist(...values: number[]): Distribution | null {
  return distribution(values);
}

function config(name: string, outage: number[], change: Partial<FailoverConfigResult> = {}): FailoverConfigResult {
  return {
    name,
    description: name,
    probe: null,
    outageMs: dist(...outage),
    breakdown: {
      detectionMs: null,
      fenceMs: null,
      confirmMs: null,
      takeoverMs: null,
      announceMs: null,
      ownMs: null,
    },
    runs: [],
    representative: null,
    splitBrain: 0,
    unexpectedTakeovers: [],
    skipped: [],
    error: null,
    ...change,
  };
}

function section(...configurations: FailoverConfigResult[]): FailoverSection {
  return { configurations, ratios: {} };
}

const verdict = (failover: FailoverSection, offDelay: number, match: string): boolean | null | undefined =>
  gateTargets(failover, offDelay).find((v) => v.target.includes(match))?.met;

describe('bench: the per-gate targets', () => {
  const keepalived = [config('keepalived-fast', [40, 42, 44]), config('keepalived-default', [2900, 3000, 3100])];

  it('confirmed: met at 50 ms beyond the BMC, not met above it, unjudged with BMCs that power off at once', () => {
    const at = (beyond: number): FailoverSection =>
      section(
        config('hotspare-silent-port', [4100], {
          breakdown: { ...config('x', []).breakdown, bmcOffMs: dist(4000), beyondBmcMs: dist(beyond) },
        }),
        ...keepalived,
      );
    expect(verdict(at(50), 4000, 'hotspare-silent-port')).to.equal(true);
    expect(verdict(at(50.5), 4000, 'hotspare-silent-port')).to.equal(false);
    expect(verdict(at(10), 0, 'hotspare-silent-port')).to.equal(null);
  });

  it("isolated: at most a tenth of keepalived's defaults", () => {
    expect(
      verdict(section(config('hotspare-isolated-hung', [290, 300]), ...keepalived), 4000, 'isolated-hung'),
    ).to.equal(true);
    expect(
      verdict(section(config('hotspare-isolated-hung', [301, 310]), ...keepalived), 4000, 'isolated-hung'),
    ).to.equal(false);
  });

  it("lease: below keepalived's fastest setting; unjudged without keepalived", () => {
    expect(verdict(section(config('hotspare-lease', [41]), ...keepalived), 4000, '(hotspare-lease,')).to.equal(true);
    expect(verdict(section(config('hotspare-lease', [42]), ...keepalived), 4000, '(hotspare-lease,')).to.equal(false);
    expect(verdict(section(config('hotspare-lease', [10])), 4000, '(hotspare-lease,')).to.equal(null);
  });

  it('two connected holders in any configuration of ours fail the safety target; keepalived is not counted', () => {
    const clean = section(config('hotspare-default', [70]), config('keepalived-fast', [40], { splitBrain: 3 }));
    expect(verdict(clean, 4000, 'two connected holders')).to.equal(true);
    const broken = section(config('hotspare-default', [70]), config('hotspare-hung', [4100], { splitBrain: 1 }));
    const found = gateTargets(broken, 4000).find((v) => v.target.includes('two connected holders'));
    expect(found?.met).to.equal(false);
    expect(found?.measured).to.contain('hotspare-hung: 1');
  });
});
