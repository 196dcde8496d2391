import { expect } from 'chai';
import { parseBoard } from '../../../src/config/index.js';
import { isConfigError } from '../../../hal/errors/index.js';

/** A valid board with `bmc` replaced. */
function board(bmc: Record<string, unknown>): unknown {
  return { name: 'test', nic: 'eth0', bmc };
}

/** The field a ConfigError names, or 'ok'. */
function fieldOf(bmc: Record<string, unknown>): string {
  try {
    parseBoard('/etc/hotspare/board.yaml', board(bmc));
    return 'ok';
  } catch (error) {
    if (!isConfigError(error)) throw error;
    expect(error.message).to.contain('/etc/hotspare/board.yaml');
    return error.field;
  }
}

describe('board: bmc.client fence-agent and redfish', () => {
  it('reads a fence agent with options as text', () => {
    const b = parseBoard(
      'b.yaml',
      board({
        client: 'fence-agent',
        fence_agent: { name: 'fence_ipmilan', options: { lanplus: 1, cipher: 3, method: 'onoff', ssl_insecure: true } },
      }),
    );
    expect(b.bmc.fenceAgent).to.deep.equal({
      name: 'fence_ipmilan',
      options: { lanplus: '1', cipher: '3', method: 'onoff', ssl_insecure: 'true' },
    });
    expect(b.bmc.redfish).to.equal(null);
  });

  it('names the field of each mistake', () => {
    expect(fieldOf({ client: 'fence-agent' })).to.contain('bmc.fence_agent');
    expect(fieldOf({ client: 'ipmitool', fence_agent: { name: 'fence_ipmilan' } })).to.contain('bmc.fence_agent');
    expect(fieldOf({ client: 'fence-agent', fence_agent: { name: 'rm -rf /' } })).to.contain('bmc.fence_agent.name');
    expect(
      fieldOf({ client: 'fence-agent', fence_agent: { name: 'fence_ipmilan', options: { password: 'x' } } }),
    ).to.contain('bmc.fence_agent.options.password');
    expect(
      fieldOf({ client: 'fence-agent', fence_agent: { name: 'fence_ipmilan', options: { ip: '10.0.0.1' } } }),
    ).to.contain('bmc.fence_agent.options.ip');
    expect(
      fieldOf({ client: 'fence-agent', fence_agent: { name: 'fence_ipmilan', options: { x: 'a\nb' } } }),
    ).to.contain('bmc.fence_agent.options.x');
    expect(fieldOf({ client: 'fence-agent', fence_agent: { name: 'fence_ipmilan', options: { x: [1] } } })).to.contain(
      'bmc.fence_agent.options.x',
    );
    expect(fieldOf({ client: 'fence-agent', fence_agent: { name: 'fence_ipmilan', typo: 1 } })).to.contain(
      'bmc.fence_agent.typo',
    );
    expect(fieldOf({ client: 'redfish' })).to.contain('bmc.redfish.ca_file');
    expect(fieldOf({ client: 'redfish', redfish: { ca_file: '/ca.pem', insecure: true } })).to.contain(
      'bmc.redfish.insecure',
    );
    expect(fieldOf({ client: 'redfish', redfish: { fingerprint: 'abcd' } })).to.contain('bmc.redfish.fingerprint');
    expect(fieldOf({ client: 'redfish', redfish: { ca_file: 'ca.pem' } })).to.contain('bmc.redfish.ca_file');
    expect(fieldOf({ client: 'redfish', redfish: { insecure: true, system: 'Systems/1' } })).to.contain(
      'bmc.redfish.system',
    );
    expect(fieldOf({ client: 'ipmitool', redfish: { insecure: true } })).to.contain('bmc.redfish');
  });

  it('reads redfish: a fingerprint with colons becomes lower-case hex; insecure only when written', () => {
    const fp = 'AB:'.repeat(31) + 'AB';
    const b = parseBoard(
      'b.yaml',
      board({ client: 'redfish', redfish: { fingerprint: fp, system: '/redfish/v1/Systems/System.Embedded.1' } }),
    );
    expect(b.bmc.redfish).to.deep.equal({
      system: '/redfish/v1/Systems/System.Embedded.1',
      powerCycleSupported: true,
      caFile: null,
      fingerprint: 'ab'.repeat(32),
      insecure: false,
    });
    expect(fieldOf({ client: 'redfish', redfish: { insecure: true } })).to.equal('ok');
  });

  it('reads the Redfish quirks as data: PowerCycle supported or not, typical power-off time; refuses cycle without PowerCycle', () => {
    const b = parseBoard(
      'b.yaml',
      board({ client: 'redfish', power_off_ms: 6000, redfish: { insecure: true, power_cycle_supported: false } }),
    );
    expect(b.bmc.redfish?.powerCycleSupported).to.equal(false);
    expect(b.bmc.powerOffMs).to.equal(6000);
    expect(parseBoard('b.yaml', board({ client: 'redfish', redfish: { insecure: true } })).bmc.powerOffMs).to.equal(
      null,
    );
    expect(
      fieldOf({ client: 'redfish', power_cycle: 'cycle', redfish: { insecure: true, power_cycle_supported: false } }),
    ).to.contain('bmc.power_cycle');
    expect(fieldOf({ client: 'redfish', redfish: { insecure: true, power_cycle_supported: 'no' } })).to.contain(
      'bmc.redfish.power_cycle_supported',
    );
    expect(fieldOf({ client: 'redfish', power_off_ms: -1, redfish: { insecure: true } })).to.contain(
      'bmc.power_off_ms',
    );
  });
});
