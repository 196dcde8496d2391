import { expect } from 'chai';
import { guidReadings, identityMatches } from '../../../hal/bmc/identity.js';
import { judgeIdentity } from '../../../src/agent/bmc-identity.js';

/** The BMC identity check's decisions (pure): GUID byte orders, UUID spellings, outcomes. */

const UUID = '4c4c4544-0042-3510-8052-b4c04f4e3832';
const WIRE = Buffer.from(UUID.replace(/-/g, ''), 'hex');

describe('BMC identity', () => {
  it('reads 16 GUID bytes in wire order, SMBIOS order and reversed (IPMI), and matches any', () => {
    const smbios = Buffer.from(
      [...WIRE.subarray(0, 4)]
        .reverse()
        .concat([...WIRE.subarray(4, 6)].reverse(), [...WIRE.subarray(6, 8)].reverse(), [...WIRE.subarray(8)]),
    );
    const reversed = Buffer.from([...WIRE].reverse());
    for (const bytes of [WIRE, smbios, reversed])
      expect(identityMatches({ source: 'ipmi-guid', bytes }, UUID), bytes.toString('hex')).to.equal(true);
    expect(guidReadings(WIRE)).to.include(UUID.replace(/-/g, ''));
    expect(guidReadings(WIRE)).to.have.length(3);
  });

  it('matches a Redfish UUID in any case, with or without dashes; not another UUID', () => {
    expect(identityMatches({ source: 'redfish-uuid', uuid: UUID.toUpperCase() }, UUID)).to.equal(true);
    expect(identityMatches({ source: 'redfish-uuid', uuid: UUID.replace(/-/g, '') }, UUID)).to.equal(true);
    expect(identityMatches({ source: 'redfish-uuid', uuid: UUID.replace('4c4c', '4c4d') }, UUID)).to.equal(false);
    expect(identityMatches({ source: 'ipmi-guid', bytes: WIRE.subarray(0, 15) }, UUID)).to.equal(false);
    expect(identityMatches({ source: 'ipmi-guid', bytes: Buffer.alloc(16) }, UUID)).to.equal(false);
  });

  it('judges: match, mismatch (naming both), unknown on an error, unchecked without a uuid or a client that cannot ask', () => {
    expect(judgeIdentity('b', UUID, { identity: { source: 'ipmi-guid', bytes: WIRE } }).state).to.equal('match');
    const other = judgeIdentity('b', UUID, {
      identity: { source: 'redfish-uuid', uuid: '00000000-0000-0000-0000-000000000001' },
    });
    expect(other.state).to.equal('mismatch');
    expect(other.detail).to.contain('00000000-0000-0000-0000-000000000001').and.contain(UUID);
    expect(judgeIdentity('b', UUID, { error: 'bmc of b: identity: timeout' }).state).to.equal('unknown');
    expect(judgeIdentity('b', null, { identity: { source: 'ipmi-guid', bytes: WIRE } }).state).to.equal('unchecked');
    expect(judgeIdentity('b', UUID, 'not-supported').state).to.equal('unchecked');
  });
});
