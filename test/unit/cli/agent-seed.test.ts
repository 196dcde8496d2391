/**
 * The role machine's seed: agents started together in PID namespaces (same PID, same
 * millisecond) must not draw the same jitter and backoff, or two of them contend for the
 * monitor address in step for good (the lab's lease-gate test in CI at 0d126ce).
 */
import { expect } from 'chai';
import { agentSeed } from '../../../src/cli/run.js';

describe('agentSeed', () => {
  it('differs between agents started in the same process and millisecond (the old PID-and-clock seed did not)', () => {
    const seeds = Array.from({ length: 64 }, () => agentSeed());
    for (const seed of seeds)
      expect(seed)
        .to.be.a('number')
        .at.least(0)
        .and.below(2 ** 32);
    // 64 draws of 32 bits: a repeat has a chance below one in a million.
    expect(new Set(seeds).size).to.equal(seeds.length);
  });
});
