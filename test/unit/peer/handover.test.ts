/**
 * The acknowledgement a clean stop waits for: which member, heard after the release, holds the
 * primary address at an epoch above the releaser's.
 */
import { expect } from 'chai';
import { handoverTaker, noDrops } from '../../../src/peer/index.js';
import type { PeerMemberStatus, PeerStatus } from '../../../src/peer/index.js';

function member(node: string, over: Partial<PeerMemberStatus> = {}): PeerMemberStatus {
  return {
    node,
    phase: 'monitor',
    role: 'monitor',
    epoch: 4,
    holdsPrimary: false,
    holdsMonitor: true,
    lan: { heardMsAgo: 10, silent: false },
    mgmt: { heardMsAgo: 12, silent: false },
    ...over,
  };
}

function peers(...members: PeerMemberStatus[]): PeerStatus {
  return {
    port: 7405,
    intervalMs: 50,
    deadAfterMs: 1000,
    sent: 0,
    received: 0,
    accepted: 0,
    dropped: noDrops(),
    highest: null,
    members,
  };
}

describe('handoverTaker: the acknowledgement of a clean stop', () => {
  it('is the member heard since the release holding the primary address at a higher epoch', () => {
    const taker = member('b', { phase: 'primary', role: 'primary', epoch: 6, holdsPrimary: true });
    expect(handoverTaker(peers(member('c'), taker), 5, 200)).to.deep.equal({ node: 'b', epoch: 6 });
  });

  it('is none while the monitor has not claimed yet', () => {
    expect(handoverTaker(peers(member('b'), member('c', { phase: 'spare', holdsMonitor: false })), 5, 200)).to.equal(
      null,
    );
  });

  it('does not count a holder at the releaser’s epoch or below (a stale or conflicting view)', () => {
    for (const epoch of [5, 3])
      expect(handoverTaker(peers(member('b', { epoch, holdsPrimary: true })), 5, 200)).to.equal(null);
  });

  it('does not count a frame heard before the release', () => {
    const stale = member('b', {
      epoch: 6,
      holdsPrimary: true,
      lan: { heardMsAgo: 300, silent: false },
      mgmt: { heardMsAgo: 250, silent: false },
    });
    expect(handoverTaker(peers(stale), 5, 200)).to.equal(null);
    // Heard on the management path since the release: that one frame is enough.
    const fresh = { ...stale, mgmt: { heardMsAgo: 20, silent: false } };
    expect(handoverTaker(peers(fresh), 5, 200)).to.deep.equal({ node: 'b', epoch: 6 });
  });

  it('does not count a member never heard, or with no epoch', () => {
    const never = member('b', { epoch: 6, holdsPrimary: true, lan: { heardMsAgo: null, silent: true }, mgmt: null });
    expect(handoverTaker(peers(never), 5, 200)).to.equal(null);
    expect(handoverTaker(peers(member('b', { epoch: null, holdsPrimary: true })), 5, 200)).to.equal(null);
  });
});
