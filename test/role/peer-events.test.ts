import { expect } from 'chai';
import { initialState, step } from '../../src/role/index.js';
import type { Event } from '../../src/role/index.js';
import { machine } from './fixtures.js';

describe('role machine: peer events (observed, not acted on yet)', () => {
  const events: Event[] = [
    {
      type: 'peer',
      nowUs: 5,
      node: 'a',
      path: 'lan',
      phase: 'primary',
      role: 'primary',
      epoch: 9,
      holdsPrimary: true,
      holdsMonitor: false,
    },
    { type: 'peer-silent', nowUs: 6, node: 'a', path: 'mgmt' },
  ];
  for (const event of events) {
    it(`${event.type} leaves the state unchanged and asks for nothing`, () => {
      const state = initialState(1);
      const monitor = { ...state, phase: 'monitor' as const, role: 'monitor' as const, epoch: 3 };
      for (const s of [state, monitor]) {
        const result = step(machine(), s, event);
        expect(result.state).to.equal(s);
        expect(result.actions).to.deep.equal([]);
      }
    });
  }
});
