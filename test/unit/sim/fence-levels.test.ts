import { expect } from 'chai';
import { SimBmcController, SimBmcFactory } from '../../../hal/bmc/sim.js';
import type { PowerState } from '../../../hal/bmc/index.js';
import { VirtualClock } from '../../../hal/clock/sim.js';
import { FenceFailedError, PowerControl } from '../../../src/agent/power.js';
import type { FenceDone, FenceLevel } from '../../../src/agent/power.js';

/**
 * Fencing levels (Pacemaker's topology) in PowerControl, in virtual time: the member's BMC is
 * level 1, a second device (a PDU outlet through a fence agent, say) level 2, each with its
 * own limit; the history and the log record each attempt. One server's power, two devices
 * that can cut it.
 */

const MS = 1000;

interface Scene {
  clock: VirtualClock;
  power: { on: boolean };
  bmc: SimBmcController;
  pdu: SimBmcController;
  control: PowerControl;
  logged: Array<{ level: string; event: string; text: string }>;
  refusal: { reason: string | null };
}

function scene(levels: 'both' | 'bmc-only', pduTimeoutMs = 3000): Scene {
  const clock = new VirtualClock();
  const power = { on: true };
  const chassis = {
    power: (): PowerState => (power.on ? 'on' : 'off'),
    setPower: (on: boolean) => {
      power.on = on;
    },
  };
  const bmc = new SimBmcController('b', clock, chassis);
  const pdu = new SimBmcController('b', clock, chassis);
  for (const c of [bmc, pdu]) {
    c.latencyUs = 5 * MS;
    c.timeoutUs = 2000 * MS;
  }
  const deliver = (fn: () => void): void => fn();
  const bmcs = new SimBmcFactory(new Map([['b', bmc]]), deliver);
  const pdus = new SimBmcFactory(new Map([['b', pdu]]), deliver);
  const logged: Scene['logged'] = [];
  const refusal = { reason: null as string | null };
  const control = new PowerControl({
    bmcs,
    levels:
      levels === 'bmc-only'
        ? null
        : {
            levels: (member): FenceLevel[] => [
              { device: 'BMC 198.18.1.12', bmc: bmcs.open(member), timeoutMs: null, refusal: () => refusal.reason },
              { device: 'fence_apc_snmp 198.18.0.2 plug 2', bmc: pdus.open(member), timeoutMs: pduTimeoutMs },
            ],
          },
    clock,
    powerCycle: 'off-on',
    pollMs: 20,
    timeoutMs: 1000,
    log: (level, event, text) => logged.push({ level, event, text }),
    stopped: () => false,
  });
  return { clock, power, bmc, pdu, control, logged, refusal };
}

/** Runs the virtual clock until the promise settles (at most `limitMs`). */
async function settle<T>(clock: VirtualClock, work: Promise<T>, limitMs = 60_000): Promise<T | Error> {
  let result: { value: T } | { error: Error } | null = null;
  work.then(
    (value) => (result = { value }),
    (error: unknown) => (result = { error: error as Error }),
  );
  for (let t = 0; t < limitMs && result === null; t += 10) await clock.runFor(10 * MS);
  if (result === null) throw new Error(`not settled within ${limitMs} ms of virtual time`);
  const r = result as { value: T } | { error: Error };
  return 'value' in r ? r.value : r.error;
}

describe('fencing levels (PowerControl)', () => {
  it('level 1 (the BMC) fences alone when it works: one attempt, level 2 untouched', async () => {
    const s = scene('both');
    const done = (await settle(s.clock, s.control.fence('b'))) as FenceDone;
    expect(done.level).to.equal(1);
    expect(done.attempts.map((a) => [a.level, a.ok])).to.deep.equal([[1, true]]);
    expect(done.detail).to.match(/^level 1 \(BMC 198\.18\.1\.12\): power off confirmed/);
    expect(s.power.on).to.equal(false);
    expect(s.pdu.commands).to.deep.equal([]);
  });

  it('a BMC that does not answer: level 2 fences after level 1 timed out; both attempts in history and log', async () => {
    const s = scene('both');
    s.bmc.down = true;
    const startUs = s.clock.nowUs();
    const done = (await settle(s.clock, s.control.fence('b'))) as FenceDone;
    expect(done.level).to.equal(2);
    expect(done.attempts.map((a) => [a.level, a.ok])).to.deep.equal([
      [1, false],
      [2, true],
    ]);
    expect(done.attempts[0]?.detail).to.contain('timeout');
    expect(done.attempts[0]?.tookUs).to.equal(2000 * MS);
    // Level 2 starts as soon as level 1 failed: its off is sent at once.
    expect(s.pdu.commands[0]).to.deep.equal({ atUs: startUs + 2000 * MS + 5 * MS, command: 'off' });
    expect(s.power.on).to.equal(false);
    expect(s.control.attempts().map((a) => a.device)).to.deep.equal([
      'BMC 198.18.1.12',
      'fence_apc_snmp 198.18.0.2 plug 2',
    ]);
    expect(s.logged.filter((l) => l.event === 'fence-level-failed')).to.have.length(1);
    expect(s.logged.filter((l) => l.event === 'fence-attempt')).to.have.length(2);
  });

  it('a BMC that acknowledges but never cuts the power: level 1 fails at fencing.power_timeout_ms, level 2 fences', async () => {
    const s = scene('both');
    s.bmc.offDelayUs = 3_600_000_000; // an hour: never within the fence
    const done = (await settle(s.clock, s.control.fence('b'))) as FenceDone;
    expect(done.level).to.equal(2);
    expect(done.attempts[0]?.detail).to.contain('power still on').and.contain('fencing.power_timeout_ms is 1000');
    expect(s.power.on).to.equal(false);
  });

  it("level 2's own timeout bounds its whole attempt, command included; every level failing is one error naming each", async () => {
    const s = scene('both', 300);
    s.bmc.down = true;
    s.pdu.down = true;
    const error = await settle(s.clock, s.control.fence('b'));
    expect(error).to.be.instanceOf(FenceFailedError);
    const failed = error as FenceFailedError;
    expect(failed.attempts.map((a) => [a.level, a.ok])).to.deep.equal([
      [1, false],
      [2, false],
    ]);
    expect(failed.attempts[1]?.tookUs).to.equal(300 * MS);
    expect(failed.message).to.contain('level 1 (BMC 198.18.1.12)').and.contain("level's timeout_ms (300 ms)");
    expect(s.power.on).to.equal(true);
  });

  it('a refused level (a BMC that is not this member’s) is skipped without a command', async () => {
    const s = scene('both');
    s.refusal.reason = 'the BMC reports system UUID 1111…, the member is 2222…';
    const done = (await settle(s.clock, s.control.fence('b'))) as FenceDone;
    expect(done.level).to.equal(2);
    expect(s.bmc.commands).to.deep.equal([]);
    expect(done.attempts[0]?.detail).to.contain('refused: the BMC reports');
  });

  it('power-on after the fence goes through the level that cut the power', async () => {
    const s = scene('both');
    s.bmc.down = true;
    await settle(s.clock, s.control.fence('b'));
    s.control.powerOn('b');
    await s.clock.runFor(100 * MS);
    expect(s.power.on).to.equal(true);
    expect(s.pdu.commands.map((c) => c.command)).to.include('on');
  });

  it('without levels: the BMC alone, its error unchanged', async () => {
    const s = scene('bmc-only');
    s.bmc.down = true;
    const error = await settle(s.clock, s.control.fence('b'));
    expect(error).to.not.be.instanceOf(FenceFailedError);
    expect((error as Error).message).to.equal('bmc of b: off: timeout: no answer from the BMC');
  });
});
