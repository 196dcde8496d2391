import { expect } from 'chai';
import {
  classifyFailure,
  interpretIpmitool,
  parseControlAck,
  parsePowerStatus,
} from '../../../hal/bmc/ipmitool-output.js';
import type { IpmitoolRun } from '../../../hal/bmc/ipmitool-output.js';

/** `-v` noise that ipmitool 1.8.19 prints on stderr even when all goes well. */
const NOISE =
  'Loading IANA PEN Registry...\nRunning Get VSO Capabilities my_addr 0x20, transit 0, target 0x20\nInvalid completion code received: Invalid command\nDiscovered IPMB address 0x0\n';

function run(partial: Partial<IpmitoolRun>): IpmitoolRun {
  return { stdout: '', stderr: '', exitCode: 0, signal: null, timedOut: false, ...partial };
}

function failed(stderr: string): IpmitoolRun {
  return run({ stderr, exitCode: 1 });
}

describe('hal/bmc/ipmitool-output', () => {
  describe('parsePowerStatus', () => {
    it('reads on and off', () => {
      expect(parsePowerStatus('Chassis Power is on\n')).to.equal('on');
      expect(parsePowerStatus('Chassis Power is off\n')).to.equal('off');
      expect(parsePowerStatus('Chassis Power is off\r\n')).to.equal('off');
    });

    it('rejects anything else', () => {
      expect(parsePowerStatus('')).to.equal(null);
      expect(parsePowerStatus('Chassis Power is maybe\n')).to.equal(null);
      expect(parsePowerStatus('chassis power is on\n')).to.equal(null);
      expect(parsePowerStatus('Chassis Power is onwards\n')).to.equal(null);
      expect(parsePowerStatus('Chassis Power is on\nChassis Power is off\n')).to.equal(null);
      expect(parsePowerStatus('\u0000\u00ff\u0007binary')).to.equal(null);
    });
  });

  describe('parseControlAck', () => {
    it('matches the operation', () => {
      expect(parseControlAck('Chassis Power Control: Down/Off\n', 'off')).to.equal(true);
      expect(parseControlAck('Chassis Power Control: Up/On\n', 'on')).to.equal(true);
      expect(parseControlAck('Chassis Power Control: Cycle\n', 'cycle')).to.equal(true);
    });

    it('refuses another operation or no acknowledgement', () => {
      expect(parseControlAck('Chassis Power Control: Up/On\n', 'off')).to.equal(false);
      expect(parseControlAck('', 'off')).to.equal(false);
      expect(parseControlAck('Chassis Power Control: Down/Off\nChassis Power Control: Down/Off\n', 'off')).to.equal(
        false,
      );
    });
  });

  describe('interpretIpmitool', () => {
    it('returns the power state of a status run, ignoring -v noise', () => {
      expect(interpretIpmitool('status', run({ stdout: 'Chassis Power is on\n', stderr: NOISE }))).to.deep.equal({
        ok: true,
        power: 'on',
      });
      expect(interpretIpmitool('status', run({ stdout: 'Chassis Power is off\n' }))).to.deep.equal({
        ok: true,
        power: 'off',
      });
    });

    it('acknowledges off, on and cycle', () => {
      expect(
        interpretIpmitool('off', run({ stdout: 'Chassis Power Control: Down/Off\n', stderr: NOISE })),
      ).to.deep.equal({ ok: true, power: null });
      expect(interpretIpmitool('on', run({ stdout: 'Chassis Power Control: Up/On\n' }))).to.deep.equal({
        ok: true,
        power: null,
      });
      expect(interpretIpmitool('cycle', run({ stdout: 'Chassis Power Control: Cycle\n' }))).to.deep.equal({
        ok: true,
        power: null,
      });
    });

    it('classifies a wrong password (RAKP 2 HMAC) as auth', () => {
      const outcome = interpretIpmitool(
        'status',
        failed(
          `Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n`,
        ),
      );
      expect(outcome).to.deep.equal({ ok: false, kind: 'auth', detail: 'RAKP 2 HMAC is invalid' });
    });

    it('classifies an unknown user as auth', () => {
      const outcome = interpretIpmitool(
        'off',
        failed(
          'RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n',
        ),
      );
      expect(outcome).to.include({ ok: false, kind: 'auth' });
    });

    it('classifies a rejected algorithm as auth', () => {
      const outcome = interpretIpmitool(
        'status',
        failed(
          'Error in open session response message : invalid authentication algorithm\n\nError: Unable to establish IPMI v2 / RMCP+ session\n',
        ),
      );
      expect(outcome).to.include({ ok: false, kind: 'auth' });
    });

    it('classifies IPMI 1.5 session failures', () => {
      expect(
        interpretIpmitool(
          'status',
          failed(
            'Activate Session command failed\nError: Unable to establish LAN session\nError: Unable to establish IPMI v1.5 / RMCP session\n',
          ),
        ),
      ).to.include({ kind: 'auth' });
      expect(
        interpretIpmitool(
          'status',
          failed(
            'Get Auth Capabilities command failed\nError: Unable to establish LAN session\nError: Unable to establish IPMI v1.5 / RMCP session\n',
          ),
        ),
      ).to.include({ kind: 'unreachable' });
      expect(
        interpretIpmitool('status', failed('Invalid user name\nError: Unable to establish LAN session\n')),
      ).to.include({ kind: 'auth' });
    });

    it('classifies no answer as unreachable', () => {
      expect(interpretIpmitool('status', failed('Error: Unable to establish IPMI v2 / RMCP+ session\n'))).to.deep.equal(
        {
          ok: false,
          kind: 'unreachable',
          detail: 'Unable to establish IPMI v2 / RMCP+ session',
        },
      );
      expect(
        interpretIpmitool(
          'status',
          failed(
            'Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n',
          ),
        ),
      ).to.include({ kind: 'unreachable' });
      expect(interpretIpmitool('off', failed('Unable to set Chassis Power Control to Down/Off\n'))).to.include({
        kind: 'unreachable',
      });
      expect(interpretIpmitool('status', failed('Address lookup for bmc-x failed\n'))).to.include({
        kind: 'unreachable',
      });
      expect(interpretIpmitool('status', failed('ipmi_lan_send_packet: Connection refused\n'))).to.include({
        kind: 'unreachable',
      });
    });

    it('classifies a completion code as refused', () => {
      const outcome = interpretIpmitool(
        'off',
        failed(`${NOISE}Set Chassis Power Control to Down/Off failed: Insufficient privilege level\n`),
      );
      expect(outcome).to.deep.equal({
        ok: false,
        kind: 'refused',
        detail: 'Set Chassis Power Control to Down/Off failed: Insufficient privilege level',
      });
      expect(interpretIpmitool('status', failed('Get Chassis Power Status failed: Node busy\n'))).to.include({
        kind: 'refused',
      });
    });

    it('reports our kill timer as timeout, whatever the output', () => {
      expect(
        interpretIpmitool(
          'status',
          run({ stdout: 'Chassis Power is on\n', exitCode: null, signal: 'SIGKILL', timedOut: true }),
        ),
      ).to.include({ ok: false, kind: 'timeout' });
    });

    it('reports a missing ipmitool as unreachable', () => {
      expect(interpretIpmitool('status', run({ exitCode: null, spawnError: 'ENOENT' }))).to.deep.equal({
        ok: false,
        kind: 'unreachable',
        detail: 'cannot run ipmitool: ENOENT',
      });
    });

    it('reports garbage: success exit with unparsable output', () => {
      const outcome = interpretIpmitool('status', run({ stdout: 'Chassis Power is sideways\n', stderr: NOISE }));
      expect(outcome).to.include({ ok: false, kind: 'garbage' });
      if (!outcome.ok) {
        expect(outcome.detail).to.contain('Chassis Power is sideways');
        expect(outcome.detail).not.to.contain('IANA');
      }
    });

    it('reports garbage: wrong acknowledgement, empty output, binary, unknown failure, signal', () => {
      expect(interpretIpmitool('off', run({ stdout: 'Chassis Power Control: Up/On\n' }))).to.include({
        kind: 'garbage',
      });
      expect(interpretIpmitool('on', run({}))).to.deep.equal({
        ok: false,
        kind: 'garbage',
        detail: 'unexpected output (exit 0): (no output)',
      });
      const binary = interpretIpmitool('status', run({ stdout: '\u0000\u0001\u00fe\u00ff\n' }));
      expect(binary).to.include({ kind: 'garbage' });
      if (!binary.ok) {
        expect(binary.detail).to.match(/^[\x20-\x7e]*$/);
      }
      expect(interpretIpmitool('status', failed('something nobody expected\n'))).to.include({ kind: 'garbage' });
      expect(interpretIpmitool('status', run({ exitCode: null, signal: 'SIGSEGV' }))).to.deep.equal({
        ok: false,
        kind: 'garbage',
        detail: 'ipmitool ended by SIGSEGV',
      });
    });

    it('bounds the detail length', () => {
      const outcome = interpretIpmitool('status', failed(`${'x'.repeat(5000)}\n`));
      expect(outcome.ok).to.equal(false);
      if (!outcome.ok) {
        expect(outcome.detail.length).to.be.lessThan(300);
      }
    });
  });

  describe('classifyFailure', () => {
    it('ignores the harmless -v noise', () => {
      expect(classifyFailure(NOISE)).to.equal(null);
    });
  });
});
