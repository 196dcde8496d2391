import { expect } from 'chai';
import { leaseAfterGrant, majority, promiseUs, released, vote } from '../../../src/lease/rules.js';
import type { VoterState } from '../../../src/lease/rules.js';

const T = { durationUs: 40_000, drift: 0.001, dropUs: 4_000 };
const Q = promiseUs(T);

function voter(over: Partial<VoterState> = {}): VoterState {
  return { startedUs: 0, highestEpoch: 0, promise: null, ...over };
}

describe('lease rules (pure)', () => {
  it('Q is (L + d_drop)·(1+ρ), rounded up; a majority is more than half', () => {
    expect(Q).to.equal(44_044);
    expect([1, 2, 3, 4, 5].map(majority)).to.deep.equal([1, 2, 2, 3, 3]);
  });

  it('a voter grants nothing during its quiet period after a start, then grants', () => {
    const v = voter({ startedUs: 1_000_000 });
    const early = vote(T, v, 'a', 1, 1_000_000 + Q - 1, false);
    expect(early.granted).to.equal(false);
    if (!early.granted) expect(early.reason).to.match(/quiet for \d+ ms more after start/);
    expect(vote(T, v, 'a', 1, 1_000_000 + Q, false).granted).to.equal(true);
  });

  it('a grant promises Q to the grantee: another is refused until it runs out, the grantee is not', () => {
    const first = vote(T, voter({ startedUs: -Q }), 'a', 3, 100, false);
    expect(first.granted).to.equal(true);
    if (!first.granted) return;
    expect(first.state.promise).to.deep.equal({ to: 'a', epoch: 3, untilUs: 100 + Q });
    const other = vote(T, first.state, 'b', 4, 100 + Q - 1, false);
    expect(other.granted).to.equal(false);
    if (!other.granted) expect(other.reason).to.match(/promised to a \(epoch 3\)/);
    expect(vote(T, first.state, 'a', 3, 100 + Q - 1, false).granted).to.equal(true);
    expect(vote(T, first.state, 'b', 4, 100 + Q, false).granted).to.equal(true);
  });

  it('a lower epoch than the highest granted is refused, even to the same member', () => {
    const v = voter({ startedUs: -Q, highestEpoch: 7 });
    const r = vote(T, v, 'a', 6, 0, false);
    expect(r.granted).to.equal(false);
    if (!r.granted) expect(r.reason).to.equal('epoch 6 is below 7');
  });

  it('a voter that holds or claims the address grants nobody', () => {
    expect(vote(T, voter({ startedUs: -Q }), 'a', 1, 0, true).granted).to.equal(false);
  });

  it('a release ends the promise to that member at that epoch only', () => {
    const v = voter({ promise: { to: 'a', epoch: 3, untilUs: 99 } });
    expect(released(v, 'a', 3).promise).to.equal(null);
    expect(released(v, 'a', 2).promise).to.deep.equal(v.promise);
    expect(released(v, 'b', 3).promise).to.deep.equal(v.promise);
  });

  it("a holder's lease: send time + L once a majority granted, never shortened by an older round", () => {
    const round = { seq: 5, sentUs: 1000, grants: new Set(['a']) };
    expect(leaseAfterGrant(T, 3, round, null)).to.equal(null);
    const two = { ...round, grants: new Set(['a', 'b']) };
    expect(leaseAfterGrant(T, 3, two, null)).to.equal(1000 + T.durationUs);
    expect(leaseAfterGrant(T, 3, two, 90_000)).to.equal(90_000);
    expect(leaseAfterGrant(T, 5, two, null)).to.equal(null);
  });
});
