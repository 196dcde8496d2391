/**
 * The two-connected-holders check's model of a switch port (scripts/lab/split-brain.ts): its
 * admin state and a silence (`Lab.silence`, bridge port state disabled) are two things.
 */
import { expect } from 'chai';
import { findViolations } from '../../../scripts/lab/split-brain.js';
import type { HolderEvent, HolderState } from '../../../scripts/lab/split-brain.js';

const ADDRESS = '198.18.0.10/24';
const initial: Record<string, HolderState> = {
  a: { linkUp: true, addresses: [] },
  b: { linkUp: true, addresses: [ADDRESS] },
};
const claimByA: HolderEvent = { server: 'a', atUs: 100, kind: 'addr', address: ADDRESS, deleted: false };

describe('soak: split-brain check, silenced and isolated ports', () => {
  it('a silence undone while an isolating fence holds the port down leaves the holder cut off', () => {
    // b frozen (silenced), then cut off by a's fence (admin down), then the silence undone:
    // the port stays down until the fence reconnects it.
    const events: HolderEvent[] = [
      { server: 'b', atUs: 50, kind: 'silence', up: false },
      claimByA,
      { server: 'b', atUs: 200, kind: 'port', up: false },
      { server: 'b', atUs: 300, kind: 'silence', up: true },
      { server: 'b', atUs: 900, kind: 'port', up: true },
    ];
    expect(findViolations(initial, events, ADDRESS)).to.deep.equal([
      { address: '198.18.0.10', startUs: 900, endUs: null, servers: ['a', 'b'] },
    ]);
  });

  it('a silenced port that goes down and up forwards again (no STP); a silence alone is not usable', () => {
    const silenced: HolderEvent[] = [{ server: 'b', atUs: 50, kind: 'silence', up: false }, claimByA];
    expect(findViolations(initial, silenced, ADDRESS)).to.deep.equal([]);
    const flapped: HolderEvent[] = [
      ...silenced,
      { server: 'b', atUs: 200, kind: 'port', up: false },
      { server: 'b', atUs: 400, kind: 'port', up: true },
    ];
    expect(findViolations(initial, flapped, ADDRESS)).to.deep.equal([
      { address: '198.18.0.10', startUs: 400, endUs: null, servers: ['a', 'b'] },
    ]);
  });
});
