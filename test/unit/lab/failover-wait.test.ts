/**
 * The failover measurement's wait between rounds (scripts/lab/failover.ts): a server powered
 * on again counts as back only once its agent has booted into a role, read from its log.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settledSincePowerOn } from '../../../scripts/lab/failover.js';
import type { Lab } from '../../../scripts/lab/lab.js';

interface PowerEntry {
  server: string;
  on: boolean;
  requestedUs: number;
  doneUs: number;
}

function fakeLab(log: string, powerLog: PowerEntry[]): Lab {
  return { powerLog, get: () => ({ paths: { log } }) } as unknown as Lab;
}

const line = (atUs: number, event: string, fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ message: event, event, atUs, ...fields });

describe('lab failover: settledSincePowerOn', () => {
  let dir: string;
  let log: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-failover-wait-'));
    log = join(dir, 'agent-a.log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const poweredOn: PowerEntry[] = [
    { server: 'a', on: false, requestedUs: 1_000, doneUs: 1_010 },
    { server: 'a', on: true, requestedUs: 2_000, doneUs: 2_010 },
  ];

  it('is false while the agent started after the power on is still booting', () => {
    writeFileSync(
      log,
      [
        line(500, 'transition', { from: 'checking-primary', to: 'primary' }),
        line(3_000, 'ready'),
        line(3_100, 'transition', { from: 'boot-wait', to: 'checking-uplink' }),
      ].join('\n'),
    );
    expect(settledSincePowerOn(fakeLab(log, poweredOn), 'a', 900)).to.equal(false);
  });

  it('is true once that agent has reached a role', () => {
    writeFileSync(
      log,
      [line(3_000, 'ready'), line(3_200, 'transition', { from: 'rechecking-primary', to: 'spare' })].join('\n'),
    );
    expect(settledSincePowerOn(fakeLab(log, poweredOn), 'a', 900)).to.equal(true);
  });

  it('is true at once for a server not powered on again since the round began', () => {
    writeFileSync(log, line(3_000, 'ready'));
    expect(settledSincePowerOn(fakeLab(log, poweredOn), 'a', 2_500)).to.equal(true);
  });
});
