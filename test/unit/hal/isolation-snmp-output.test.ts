import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIsolationError } from '../../../hal/errors/isolation-error.js';
import { IF_ADMIN_STATUS, IF_OPER_STATUS, SnmpFailure, SnmpIsolatorFactory } from '../../../hal/isolation/snmp.js';
import type { SnmpChannel, SnmpIsolatorOptions } from '../../../hal/isolation/snmp.js';

/**
 * The SNMP isolator's logic against a fake switch (fast; the lab test drives snmpd): what it
 * sends, how it reads back, how answers and silence become error kinds, and that the
 * community never reaches a message.
 */

const COMMUNITY = 'Secret-Community-42';

class FakeSwitch implements SnmpChannel {
  admin = 1;
  oper = 1;
  /** Requests to leave unanswered (timeouts), then answer. */
  drop = 0;
  /** Answer SETs with this failure. */
  refuseSet: SnmpFailure | null = null;
  /** SETs take this many reads before the port reads back as set. */
  lag = 0;
  readonly sent: string[] = [];
  closed = false;
  private pending: number | null = null;

  async get(oids: readonly string[], timeoutMs: number): Promise<number[]> {
    this.sent.push(`get ${oids.join(' ')}`);
    await this.maybeDrop(timeoutMs);
    if (this.pending !== null && this.lag-- <= 0) {
      this.admin = this.pending;
      this.pending = null;
    }
    return oids.map((oid) => (oid.startsWith(IF_ADMIN_STATUS) ? this.admin : this.oper));
  }

  async setInteger(oid: string, value: number, timeoutMs: number): Promise<void> {
    this.sent.push(`set ${oid}=${value}`);
    await this.maybeDrop(timeoutMs);
    if (this.refuseSet !== null) throw this.refuseSet;
    if (this.lag > 0) this.pending = value;
    else this.admin = value;
  }

  close(): void {
    this.closed = true;
  }

  private async maybeDrop(timeoutMs: number): Promise<void> {
    if (this.drop <= 0) return;
    this.drop -= 1;
    await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    throw new SnmpFailure('timeout', 'no answer');
  }
}

describe('SNMP IF-MIB isolator (hal/isolation/snmp.ts) against a fake switch', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-snmp-'));
    file = join(dir, 'community');
    writeFileSync(file, `${COMMUNITY}\n`, { mode: 0o600 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function setup(change: Partial<SnmpIsolatorOptions> = {}): {
    fake: FakeSwitch;
    factory: SnmpIsolatorFactory;
    opened: string[];
  } {
    const fake = new FakeSwitch();
    const opened: string[] = [];
    const options: SnmpIsolatorOptions = {
      member: 'b',
      host: '198.18.0.1',
      port: 161,
      communityFile: file,
      ifIndex: 7,
      timeoutMs: 300,
      requestMs: 50,
      pollMs: 1,
      ...change,
    };
    const factory = new SnmpIsolatorFactory([options, { ...options, member: 'c', ifIndex: 8 }], (host, port, c) => {
      opened.push(`${host}:${port}:${c}`);
      return fake;
    });
    return { fake, factory, opened };
  }

  it('isolate sets ifAdminStatus.N down, then reads it back; restore sets it up; status reads it', async () => {
    const { fake, factory } = setup();
    const isolator = factory.open('b');
    expect(isolator.device).to.equal('switch 198.18.0.1:161 ifIndex 7');
    await isolator.isolate();
    expect(fake.sent).to.deep.equal([`set ${IF_ADMIN_STATUS}.7=2`, `get ${IF_ADMIN_STATUS}.7 ${IF_OPER_STATUS}.7`]);
    expect(await isolator.status()).to.equal('isolated');
    await isolator.restore();
    expect(fake.admin).to.equal(1);
    expect(await isolator.status()).to.equal('connected');
  });

  it('reads back until the switch shows the cut, within the deadline', async () => {
    const { fake, factory } = setup();
    fake.lag = 3;
    await factory.open('b').isolate();
    expect(fake.sent.filter((s) => s.startsWith('get'))).to.have.length(4);
  });

  it('a port that never reads down is a timeout naming what it read', async () => {
    const { fake, factory } = setup({ timeoutMs: 100 });
    fake.lag = 1_000_000;
    const error = await factory
      .open('b')
      .isolate()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isIsolationError(error) && error.kind).to.equal('timeout');
    expect((error as Error).message).to.contain('still reads ifAdminStatus up');
  });

  it('a lost datagram is sent again within the deadline; silence until the deadline is a timeout', async () => {
    const { fake, factory } = setup();
    fake.drop = 2;
    await factory.open('b').isolate();
    expect(fake.sent.filter((s) => s.startsWith('set'))).to.have.length(3);
    const quiet = setup({ timeoutMs: 120 });
    quiet.fake.drop = 1000;
    const started = performance.now();
    const error = await quiet.factory
      .open('b')
      .isolate()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(performance.now() - started).to.be.within(100, 600);
    expect(isIsolationError(error) && error.kind).to.equal('timeout');
    expect((error as Error).message).to.contain('wrong community');
  });

  it('a refused SET keeps its kind (auth), names member and device, never the community', async () => {
    const { fake, factory } = setup();
    fake.refuseSet = new SnmpFailure('auth', 'the switch refused the set: NoAccess (a read-only community?)');
    const error = await factory
      .open('b')
      .isolate()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isIsolationError(error) && error.kind).to.equal('auth');
    expect((error as Error).message)
      .to.contain('isolation of b: isolate: auth: switch 198.18.0.1:161 ifIndex 7')
      .and.not.contain(COMMUNITY);
  });

  it('members on one switch share one session; closeAll closes it; an unreadable community file is an error without it', async () => {
    const { fake, factory, opened } = setup();
    await factory.open('b').status();
    await factory.open('c').status();
    expect(opened).to.deep.equal([`198.18.0.1:161:${COMMUNITY}`]);
    expect(factory.has('b')).to.equal(true);
    expect(factory.has('a')).to.equal(false);
    factory.closeAll();
    expect(fake.closed).to.equal(true);

    const missing = setup({ communityFile: join(dir, 'nope') });
    const error = await missing.factory
      .open('b')
      .status()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isIsolationError(error) && error.kind).to.equal('unreachable');
    expect((error as Error).message).to.contain('cannot read the community file (ENOENT)');
  });
});
