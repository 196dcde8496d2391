/**
 * One Bmc contract (hal/bmc/index.ts) over the simulated BMC in virtual time and the
 * ipmitool client against a real ipmi_sim BMC in the lab (placeholder agents, root needed).
 * Client-only behaviour (IPMI 1.5, kill timers, latencies) is in bmc-ipmitool.test.ts; the
 * RMCP+ client, which must run inside the lab's management namespace, in bmc-rmcp.test.ts.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bmc } from '../../hal/bmc/index.js';
import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import { SimBmcController, SimBmcFactory } from '../../hal/bmc/sim.js';
import { VirtualClock } from '../../hal/clock/sim.js';
import { isBmcError } from '../../hal/errors/bmc-error.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';
import { settle as settleIn, virtualWaitFor } from '../fixtures/virtual-time.js';

/** What the contract needs of a BMC client and the server behind it. */
interface Harness {
  bmc(): Bmc;
  /** A client whose BMC does not answer at all. */
  silent(): Bmc;
  /** A client with a wrong password (that password), or null where there is none. */
  wrongPassword(): Promise<{ bmc: Bmc; password: string } | null>;
  /** The server's real power, as the chassis knows it. */
  powered(): boolean;
  /** Every power change of the server so far (true: on), in order. */
  powerLog(): boolean[];
  /** Resolves with the operation's outcome, driving virtual time where there is some. */
  settle<T>(operation: Promise<T>): Promise<T>;
  waitFor(condition: () => boolean, ms: number, what: string): Promise<void>;
  dispose(): Promise<void>;
}

function simHarness(): Harness {
  const clock = new VirtualClock();
  let on = true;
  const changes: boolean[] = [];
  const chassis = {
    power: () => (on ? ('on' as const) : ('off' as const)),
    setPower: (p: boolean) => {
      on = p;
      changes.push(p);
    },
  };
  const controller = new SimBmcController('a', clock, chassis);
  const down = new SimBmcController('x', clock, chassis);
  down.down = true;
  const factory = new SimBmcFactory(
    new Map([
      ['a', controller],
      ['x', down],
    ]),
    (fn) => fn(),
  );
  const settle = <T>(operation: Promise<T>): Promise<T> => settleIn(clock, operation, 10_000);
  return {
    bmc: () => factory.open('a'),
    silent: () => factory.open('x'),
    wrongPassword: () => Promise.resolve(null),
    powered: () => on,
    powerLog: () => [...changes],
    settle,
    waitFor: (condition, ms, what) => virtualWaitFor(clock, condition, ms, what, 10_000),
    dispose: () => Promise.resolve(),
  };
}

async function labHarness(): Promise<Harness> {
  const lab: Lab = await startLab({ servers: 2, agentCommand: placeholderAgent, observer: false });
  const client = (change: Record<string, unknown> = {}): Bmc =>
    new IpmitoolBmc({ ...lab.bmcOptions('a'), ...change }, { command: lab.ipmitoolCommand('b') });
  return {
    bmc: () => client(),
    silent: () => client({ port: 624, timeoutMs: 4000 }),
    wrongPassword: async () => {
      const password = 'not-the-password-123';
      const file = join(lab.runDir, 'contract-wrong.pass');
      await writeFile(file, password, { mode: 0o600 });
      return { bmc: client({ passwordFile: file }), password };
    },
    powered: () => lab.isPowered('a'),
    powerLog: () => lab.powerLog.filter((p) => p.server === 'a').map((p) => p.on),
    settle: (operation) => operation,
    waitFor: async (condition, ms, what) => {
      await lab.waitFor(condition, ms, what);
    },
    dispose: () => lab.stop(),
  };
}

const subjects: Array<{ name: string; unavailable: string | null; passwords: boolean; open: () => Promise<Harness> }> =
  [
    { name: 'simulated BMC', unavailable: null, passwords: false, open: () => Promise.resolve(simHarness()) },
    {
      name: 'IpmitoolBmc against ipmi_sim (lab)',
      passwords: true,
      unavailable: process.getuid?.() === 0 ? null : 'not root',
      open: labHarness,
    },
  ];

async function failure(operation: Promise<unknown>): Promise<unknown> {
  return operation.then(
    () => null,
    (error: unknown) => error,
  );
}

for (const subject of subjects) {
  describeIfAvailable(`hal/bmc contract: ${subject.name}`, subject.unavailable, function () {
    this.timeout(180_000);
    let h: Harness;

    before(async () => {
      h = await subject.open();
    });

    after(async () => {
      await h?.dispose();
    });

    it('status reports the power; off and on resolve once acknowledged, and the power follows', async () => {
      const bmc = h.bmc();
      expect(await h.settle(bmc.status())).to.equal('on');
      await h.settle(bmc.off());
      await h.waitFor(() => !h.powered(), 5000, 'the power off');
      expect(await h.settle(bmc.status())).to.equal('off');
      await h.settle(bmc.on());
      await h.waitFor(() => h.powered(), 5000, 'the power on');
      expect(await h.settle(bmc.status())).to.equal('on');
    });

    it('cycle: the power goes off, and comes back on', async () => {
      const bmc = h.bmc();
      const before = h.powerLog().length;
      await h.settle(bmc.cycle());
      await h.waitFor(() => h.powerLog().length >= before + 2 && h.powered(), 10_000, 'the power back on');
      expect(h.powerLog().slice(before, before + 2)).to.deep.equal([false, true]);
      expect(await h.settle(bmc.status())).to.equal('on');
    });

    it('a BMC that does not answer rejects with BmcError (unreachable or timeout)', async () => {
      const error = await h.settle(failure(h.silent().status()));
      expect(isBmcError(error)).to.equal(true);
      expect(isBmcError(error) && ['unreachable', 'timeout'].includes(error.kind)).to.equal(true);
    });

    (subject.passwords ? it : it.skip)(
      `a wrong password is auth, and no error carries it${subject.passwords ? '' : ' (skipped: this BMC has no password)'}`,
      async () => {
        const wrong = await h.wrongPassword();
        if (wrong === null) throw new Error('no wrong-password client');
        const error = await h.settle(failure(wrong.bmc.status()));
        expect(isBmcError(error) && error.kind).to.equal('auth');
        expect(String((error as Error).message)).to.not.contain(wrong.password);
      },
    );
  });
}
