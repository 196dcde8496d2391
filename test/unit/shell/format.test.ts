import { expect } from 'chai';
import {
  formatConfig,
  formatHelp,
  formatHistory,
  formatLog,
  formatPowerReading,
  formatProbe,
  formatStatus,
} from '../../../src/shell/format.js';
import { formatStatus as formatCliStatus } from '../../../src/cli/status-format.js';
import { FakeOperator, fakeStatus } from './fixtures.js';

describe('shell output formats', () => {
  it('status: role, epoch, held addresses, peer RTT min/median/p99 in us, misses, last sync', () => {
    const text = formatStatus(fakeStatus('monitor'));
    expect(text).to.match(/^role {6}monitor$/m);
    expect(text).to.match(/^epoch {5}3$/m);
    expect(text).to.match(/^held {6}198\.18\.0\.9\/24$/m);
    expect(text).to.contain('peer rtt  min 21 median 35 p99 120 max 121 (us, last 100 replies)');
    expect(text).to.contain('misses    0 in a row; 2 in all (1000 probes, 998 replies');
    expect(text).to.contain('last sync 2026-01-02T03:04:05.000Z (1200 ms ago, 3 files, 1200 bytes)');
    expect(text).to.match(/^[\x20-\x7e\n]*$/); // ASCII only: a dumb terminal
  });

  it('status: the fence history, newest last, each attempt with level or isolation, device, outcome and time', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5);
    const status = {
      ...fakeStatus('primary'),
      fenceHistory: [
        {
          atMs: at,
          target: 'b',
          kind: 'isolation' as const,
          level: 0,
          device: 'switch 10.0.0.2:161 ifIndex 7',
          ok: true,
          tookUs: 21_400,
          detail: 'cut read back',
        },
        {
          atMs: at + 1,
          target: 'b',
          kind: 'power' as const,
          level: 1,
          device: 'BMC 10.0.1.2',
          ok: false,
          tookUs: 2_000_000,
          detail: 'bmc of b: off: timeout: no answer\u001b',
        },
        {
          atMs: at + 2,
          target: 'b',
          kind: 'power' as const,
          level: 2,
          device: 'fence_apc_snmp 10.0.1.50 plug 7',
          ok: true,
          tookUs: 912_300,
          detail: 'power off confirmed',
        },
      ],
    };
    const text = formatStatus(status);
    expect(text).to.contain(
      'fences    2026-01-02T03:04:05.000Z b isolation (switch 10.0.0.2:161 ifIndex 7) cut in 21.4 ms\n',
    );
    expect(text).to.contain(
      '          2026-01-02T03:04:05.001Z b level 1 (BMC 10.0.1.2) FAILED in 2000.0 ms: bmc of b: off: timeout: no answer?\n',
    );
    expect(text).to.contain(
      '          2026-01-02T03:04:05.002Z b level 2 (fence_apc_snmp 10.0.1.50 plug 7) off in 912.3 ms\n',
    );
    expect(formatStatus(fakeStatus('monitor'))).to.match(/^fences {4}none yet$/m);
    expect(formatCliStatus(status)).to.contain('fence history:\n  2026-01-02T03:04:05.000Z b isolation');
  });

  it('hotspare status: a lease line with the holder, late requests and the voter, only under the lease gate', () => {
    expect(formatCliStatus(fakeStatus('primary'))).to.not.contain('lease:');
    const status = {
      ...fakeStatus('primary'),
      lease: {
        voter: { highestEpoch: 4, promisedTo: 'a', promiseMsLeft: 21, quietMsLeft: 0 },
        holder: { epoch: 4, held: true, msLeft: 19 },
        grantsSent: 0,
        refusalsSent: 2,
        dropped: 1,
        lateRequests: 3,
        worstLateMs: 14.2,
      },
    };
    expect(formatCliStatus(status)).to.contain(
      'lease: holds the lease at epoch 4, 19 ms left; 3 requests late (worst 14.2 ms); as voter promised to a for 21 ms, 0 grants and 2 refusals sent, 1 frames dropped\n',
    );
  });

  it('bmc NODE status: one line for one level; a line per level and the switch port otherwise', () => {
    const one = {
      member: 'b',
      power: 'on' as const,
      levels: [{ level: 1, device: 'BMC 10.0.1.2', power: 'on' as const, error: null, tookUs: 9000 }],
      port: null,
    };
    expect(formatPowerReading(one)).to.equal('bmc b: power on\n');
    const more = {
      member: 'c',
      power: 'off' as const,
      levels: [
        { level: 1, device: 'BMC 10.0.1.3', power: null, error: 'timeout: no answer', tookUs: 2_000_000 },
        { level: 2, device: 'redfish 10.0.1.3:443', power: 'off' as const, error: null, tookUs: 15_200 },
      ],
      port: { device: 'switch 10.0.0.2:161 ifIndex 8', state: 'connected' as const, error: null },
    };
    expect(formatPowerReading(more)).to.equal(
      'bmc c: power off\n  level 1 (BMC 10.0.1.3): ERROR timeout: no answer in 2000.0 ms\n  level 2 (redfish 10.0.1.3:443): off in 15.2 ms\n  switch port (switch 10.0.0.2:161 ifIndex 8): connected\n',
    );
  });

  it('history: timestamps and reasons; probe: RTTs in us and losses', () => {
    const op = new FakeOperator();
    expect(formatHistory(op.transitions())).to.equal(
      '2026-01-02T03:04:05.000Z  booting -> monitor  epoch 3  monitor address was silent\n',
    );
    expect(formatHistory([])).to.equal('no role transitions yet\n');
    expect(
      formatProbe('198.18.0.10', [
        { sequence: 1, rttUs: 40 },
        { sequence: 2, rttUs: null },
        { sequence: 3, rttUs: 60 },
      ]),
    ).to.equal(
      'seq 1: rtt 40 us\nseq 2: no reply within 1 s\nseq 3: rtt 60 us\n198.18.0.10: 3 sent, 2 answered; rtt min 40 median 60 max 60 us\n',
    );
  });

  it('config: one key a line, secret values redacted, paths of secret files shown', () => {
    const text = formatConfig(new FakeOperator().effectiveConfig());
    expect(text).to.contain('cluster.members[0].bmc.passwordFile = "/etc/hotspare/bmc-a.pass"');
    expect(text).to.contain('cluster.members[0].bmc.password = [redacted]');
    expect(text).to.contain('sync.psk = [redacted]');
    expect(text).to.not.contain('hunter2');
    expect(text).to.not.contain('tok-123');
  });

  it('log lines with control characters in them are made printable', () => {
    const text = formatLog([
      {
        atMs: 0,
        atUs: 0,
        level: 'error',
        node: 'a',
        event: 'hook',
        message: 'on_primary exited 1',
        fields: { output: 'bad\x1b[2Jthing\nnext' },
      },
    ]);
    expect(text).to.equal('1970-01-01T00:00:00.000Z error hook: on_primary exited 1 output=bad?[2Jthing next\n');
  });

  it('help lists every command with usage, marks the mutating ones, and explains keys', () => {
    const text = formatHelp(null);
    for (const word of [
      'status',
      'history',
      'probe ADDR [COUNT]',
      'bmc NODE status',
      'log [N]',
      'config',
      'sync status|now',
      'promote',
      'demote',
      'maintenance on|off',
      'fence NODE',
      'Ctrl-C',
      'Ctrl-U',
    ])
      expect(text).to.contain(word);
    expect(text).to.match(/fence NODE +\* /);
    expect(formatHelp('fence')).to.contain('asks for confirmation');
  });
});
