/**
 * hal/bmc/ipmitool.ts against real ipmi_sim BMCs in the lab (placeholder agents). Needs root:
 *   npx mocha --no-config dist/test/lab/bmc-ipmitool.test.js
 * Prints the measured latencies.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import type { IpmitoolBmcOptions } from '../../hal/bmc/ipmitool.js';
import { isBmcError } from '../../hal/errors/bmc-error.js';
import type { BmcErrorKind } from '../../hal/errors/bmc-error.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { measureBmc } from '../../scripts/lab/measure.js';

async function kindOf(promise: Promise<unknown>): Promise<BmcErrorKind | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (isBmcError(error)) {
      return error.kind;
    }
    throw error;
  }
}

describe('IpmitoolBmc against ipmi_sim in the lab', function () {
  this.timeout(180_000);
  let lab: Lab | null = null;

  before(async () => {
    lab = await startLab({ servers: 3, agentCommand: placeholderAgent, observer: false });
  });

  after(async () => {
    await lab?.stop();
  });

  function current(): Lab {
    if (lab === null) {
      throw new Error('lab not started');
    }
    return lab;
  }

  function bmc(target: string, change: Partial<IpmitoolBmcOptions> = {}, from = 'b'): IpmitoolBmc {
    const l = current();
    return new IpmitoolBmc({ ...l.bmcOptions(target), ...change }, { command: l.ipmitoolCommand(from) });
  }

  it('status, off, on: each acknowledged, and the power really changes', async () => {
    const l = current();
    const a = bmc('a');
    expect(await a.status()).to.equal('on');
    await a.off();
    expect(l.isPowered('a')).to.equal(false);
    expect(await a.status()).to.equal('off');
    expect((await l.holders()).servers['a']?.linkUp).to.equal(false);
    await a.on();
    expect(l.isPowered('a')).to.equal(true);
    expect(await a.status()).to.equal('on');
  });

  it('cycle is acknowledged once the power is off; ipmi_sim powers on again afterwards', async () => {
    const l = current();
    const c = bmc('c', {}, 'a');
    const before = l.powerLog.length;
    await c.cycle();
    // When cycle() resolves the off has happened (the BMC acknowledged it); the on is
    // ipmi_sim's own, later. No time bound: ipmitool's start-up time depends on the load.
    const off = l.powerLog.slice(before).find((p) => p.server === 'c' && !p.on && p.source === 'bmc');
    expect(off, 'power off recorded before cycle() resolved').to.not.equal(undefined);
    await l.waitFor(
      () => l.powerLog.slice(before).some((p) => p.server === 'c' && p.on) && l.isPowered('c'),
      5000,
      'c back on',
    );
    const [first, second] = l.powerLog.slice(before).filter((p) => p.server === 'c');
    expect([first?.on, second?.on]).to.deep.equal([false, true]);
    expect(await c.status()).to.equal('on');
  });

  it('works over IPMI 1.5 (interface lan) too', async () => {
    expect(await bmc('b', { interface: 'lan' }, 'a').status()).to.equal('on');
  });

  it('a wrong password is auth, and the error does not contain it', async () => {
    const l = current();
    const wrong = join(l.runDir, 'wrong.pass');
    await writeFile(wrong, 'not-the-password-123', { mode: 0o600 });
    const error = await bmc('a', { passwordFile: wrong })
      .status()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isBmcError(error) && error.kind).to.equal('auth');
    expect(String((error as Error).message)).to.not.contain('not-the-password-123');
    expect(await kindOf(bmc('a', { passwordFile: wrong, interface: 'lan' }).status())).to.equal('auth');
  });

  it('an unknown user is auth', async () => {
    expect(await kindOf(bmc('a', { username: 'mallory' }).status())).to.equal('auth');
  });

  it('nobody listening is unreachable (ipmitool gives up before the kill timer)', async () => {
    expect(await kindOf(bmc('a', { port: 624, timeoutMs: 4000 }).status())).to.equal('unreachable');
  });

  it('a BMC that stopped answering is timeout (kill timer)', async () => {
    const l = current();
    l.bmcDown('a');
    try {
      const started = Date.now();
      expect(await kindOf(bmc('a', { timeoutMs: 800 }).off())).to.equal('timeout');
      // The kill timer ends it; ipmitool left alone would retry for many seconds.
      expect(Date.now() - started).to.be.within(750, 4000);
    } finally {
      await l.restore('a');
    }
    expect(l.isPowered('a')).to.equal(true);
  });

  it('latency of status, off and on through the chassis program (printed)', async () => {
    const result = await measureBmc(current(), 'b', 'a', 5);
    console.log(`      latencies: ${JSON.stringify(result)}`);
    expect(result.status.n).to.equal(5);
    expect(result.off.n).to.equal(5);
    expect(result.off.medianMs).to.be.greaterThan(0);
  });
});
