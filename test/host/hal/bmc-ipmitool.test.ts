import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpmitoolBmc, IpmitoolBmcFactory, ipmitoolArgs } from '../../../hal/bmc/ipmitool.js';
import type { IpmitoolBmcOptions } from '../../../hal/bmc/ipmitool.js';
import { BmcError, isBmcError } from '../../../hal/errors/bmc-error.js';

const SECRET = 'Sup3r-Secret-Passw0rd';

/** A fake ipmitool: records its argv in `argsFile`, then runs `script`. */
function fake(argsFile: string, script: string): string[] {
  return ['sh', '-c', `printf '%s\\n' "$@" > '${argsFile}'; ${script}`, 'fake-ipmitool'];
}

async function rejection(promise: Promise<unknown>): Promise<BmcError> {
  try {
    await promise;
  } catch (error) {
    if (isBmcError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('hal/bmc/ipmitool IpmitoolBmc (fake ipmitool)', () => {
  let dir = '';
  let options: IpmitoolBmcOptions;
  let argsFile = '';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hs-bmc-test-'));
    argsFile = join(dir, 'args');
    const passwordFile = join(dir, 'bmc.pass');
    await writeFile(passwordFile, SECRET, { mode: 0o600 });
    options = {
      member: 'b',
      host: '198.18.1.12',
      port: 623,
      username: 'admin',
      passwordFile,
      interface: 'lanplus',
      cipherSuite: 3,
      timeoutMs: 2000,
    };
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds the lanplus command line with -f, -C, -N and -R and no password', () => {
    const args = ipmitoolArgs(options, 'off');
    expect(args).to.deep.equal([
      '-v',
      '-I',
      'lanplus',
      '-C',
      '3',
      '-H',
      '198.18.1.12',
      '-p',
      '623',
      '-U',
      'admin',
      '-f',
      options.passwordFile,
      '-N',
      '1',
      '-R',
      '1',
      'chassis',
      'power',
      'off',
    ]);
    expect(args.join(' ')).not.to.contain(SECRET);
    expect(args).not.to.include('-P');
  });

  it('leaves out the cipher suite for lan and spreads the timeout over the retries', () => {
    const args = ipmitoolArgs({ ...options, interface: 'lan', timeoutMs: 9500, retries: 2 }, 'status');
    expect(args).not.to.include('-C');
    expect(args.slice(args.indexOf('-N'), args.indexOf('-N') + 4)).to.deep.equal(['-N', '3', '-R', '2']);
  });

  it('status parses the answer and passes the password only as a file', async () => {
    const bmc = new IpmitoolBmc(options, { command: fake(argsFile, 'echo "Chassis Power is off"') });
    expect(await bmc.status()).to.equal('off');
    const argv = await readFile(argsFile, 'utf8');
    expect(argv).to.contain(options.passwordFile);
    expect(argv).not.to.contain(SECRET);
  });

  it('off, on and cycle resolve on the acknowledgement', async () => {
    const script =
      'for last; do :; done; case "$last" in off) echo "Chassis Power Control: Down/Off";; on) echo "Chassis Power Control: Up/On";; cycle) echo "Chassis Power Control: Cycle";; esac';
    const bmc = new IpmitoolBmc(options, { command: fake(argsFile, script) });
    await bmc.off();
    await bmc.on();
    await bmc.cycle();
    expect((await readFile(argsFile, 'utf8')).trim().split('\n').at(-1)).to.equal('cycle');
  });

  it('kills ipmitool at timeoutMs and reports timeout', async () => {
    const bmc = new IpmitoolBmc({ ...options, timeoutMs: 300 }, { command: fake(argsFile, 'exec sleep 5') });
    const started = Date.now();
    const error = await rejection(bmc.status());
    const elapsed = Date.now() - started;
    expect(error.kind).to.equal('timeout');
    expect(elapsed).to.be.within(280, 1500);
    expect(error.message).to.contain('bmc of b: status: timeout');
  });

  it('maps failure output to error kinds', async () => {
    const cases: Array<[string, string]> = [
      [
        'echo "> RAKP 2 HMAC is invalid" >&2; echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1',
        'auth',
      ],
      ['echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1', 'unreachable'],
      ['echo "Set Chassis Power Control to Down/Off failed: Insufficient privilege level" >&2; exit 1', 'refused'],
      ['echo "Chassis Power Control: Up/On"', 'garbage'],
      ['printf "\\001\\002\\003"', 'garbage'],
    ];
    for (const [script, kind] of cases) {
      const bmc = new IpmitoolBmc(options, { command: fake(argsFile, script) });
      const error = await rejection(bmc.off());
      expect(error.kind, script).to.equal(kind);
    }
  });

  it('reports an unreadable password file as auth without running ipmitool', async () => {
    const bmc = new IpmitoolBmc(
      { ...options, passwordFile: join(dir, 'missing.pass') },
      { command: fake(argsFile, 'echo "Chassis Power is on"') },
    );
    const error = await rejection(bmc.status());
    expect(error.kind).to.equal('auth');
    expect(error.message).to.contain('missing.pass');
  });

  it('reports a missing ipmitool as unreachable', async () => {
    const bmc = new IpmitoolBmc(options, { command: [join(dir, 'no-such-ipmitool')] });
    const error = await rejection(bmc.status());
    expect(error.kind).to.equal('unreachable');
    expect(error.message).to.contain('ENOENT');
  });

  it('never puts the password into an error, even when ipmitool echoes its arguments', async () => {
    const bmc = new IpmitoolBmc(options, { command: fake(argsFile, 'echo "$@" >&2; exit 1') });
    const error = await rejection(bmc.status());
    const everything = `${error.message} ${JSON.stringify(error.context)} ${String(error.stack)}`;
    expect(everything).not.to.contain(SECRET);
  });

  it('the factory opens configured members and refuses unknown ones', () => {
    const factory = new IpmitoolBmcFactory([options], { command: ['ipmitool'] });
    expect(factory.open('b').member).to.equal('b');
    expect(() => factory.open('z')).to.throw(BmcError, /bmc of z: open/);
  });
});
