/**
 * A claim arms the enforcer before its grant (README "Takeover gates", the lease thread):
 * the first deadline after none wakes the enforcer's watcher threads, which is paid while the
 * request is on the wire; the grant then only moves the deadline later. Never while the
 * server holds the primary address, nor while an earlier deadline is still to come.
 */
import { expect } from 'chai';
import { cluster, member } from './lease-cluster.js';

const L_US = 25_000;

/** The deadlines given to the enforcer, in order (disarms left out). */
function holds(calls: ReadonlyArray<{ call: string }>): number[] {
  return calls.filter((c) => c.call.startsWith('hold ')).map((c) => Number(c.call.slice(5)));
}

describe('lease service: the enforcer armed ahead of a claim', () => {
  async function quiet(): Promise<ReturnType<typeof cluster>> {
    const c = cluster();
    // Past every voter's quiet period after its start.
    await c.clock.runFor(100_000);
    return c;
  }

  it("arms it with the first request's send time plus L before any grant, and the grant only moves it later", async () => {
    const { clock, members } = await quiet();
    const a = member(members, 'a');
    const askedUs = clock.nowUs();
    a.service.acquire(1);
    expect(a.enforcer.calls, 'armed as the first request goes out').to.deep.equal([
      { atUs: askedUs, call: `hold ${askedUs + L_US}` },
    ]);
    expect(a.held).to.deep.equal([]);
    await clock.runFor(30_000);
    expect(a.held).to.have.length(1);
    const deadlines = holds(a.enforcer.calls);
    expect(deadlines.length).to.be.greaterThan(1);
    for (let i = 1; i < deadlines.length; i += 1)
      expect(deadlines[i], `deadline ${i} not earlier than the one before`).to.be.at.least(deadlines[i - 1] ?? 0);
  });

  it('takes the deadline back when the claim gives way to a higher one before a grant', async () => {
    const { clock, members } = await quiet();
    const a = member(members, 'a');
    const b = member(members, 'b');
    member(members, 'c').host.silent = true;
    a.service.acquire(1);
    // b claims above a: a hears b's request, gives its claim up and votes for b.
    b.service.acquire(2);
    await clock.runFor(3_000);
    expect(b.held).to.have.length(1);
    expect(a.service.status().holder).to.equal(null);
    expect(a.enforcer.calls.map((c) => c.call.split(' ')[0])).to.deep.equal(['hold', 'disarm']);
  });

  it('arms it again when a long claim outlasts the deadline armed ahead', async () => {
    const { clock, members } = await quiet();
    const a = member(members, 'a');
    member(members, 'b').host.silent = true;
    member(members, 'c').host.silent = true;
    a.service.acquire(1);
    await clock.runFor(L_US + 3_000);
    const deadlines = holds(a.enforcer.calls);
    expect(deadlines).to.have.length(2);
    expect(deadlines[1]).to.be.greaterThan((deadlines[0] ?? 0) + L_US - 1);
  });

  it('does not arm it while the server holds the address', async () => {
    const { clock, members } = await quiet();
    const a = member(members, 'a');
    a.service.acquire(1);
    await clock.runFor(30_000);
    expect(a.held).to.have.length(1);
    a.holdsPrimary = true;
    // The voters fall silent: the lease runs out (the agent's release has not run yet) and
    // a claim starts again while the address is still in the kernel.
    member(members, 'b').host.silent = true;
    member(members, 'c').host.silent = true;
    await clock.runFor(40_000);
    expect(a.lost).to.have.length(1);
    const before = a.enforcer.calls.length;
    a.service.acquire(2);
    await clock.runFor(3_000);
    expect(a.enforcer.calls.length, 'nothing armed while the address is held').to.equal(before);
    a.holdsPrimary = false;
    await clock.runFor(2_000);
    expect(holds(a.enforcer.calls.slice(before)), 'armed once it is gone').to.have.length(1);
  });

  it('does not arm it before an earlier deadline has come', async () => {
    const { clock, members } = await quiet();
    const a = member(members, 'a');
    a.service.acquire(1);
    await clock.runFor(30_000);
    // The lease given up with the address still in the kernel: the enforcer keeps its deadline.
    a.holdsPrimary = true;
    a.service.release();
    const lastDeadline = holds(a.enforcer.calls).at(-1) ?? 0;
    const before = a.enforcer.calls.length;
    member(members, 'b').host.silent = true;
    member(members, 'c').host.silent = true;
    a.service.acquire(2);
    // The address is gone (a claim runs, so no release is sent), the earlier deadline still to come.
    a.holdsPrimary = false;
    await clock.runFor(4_000);
    expect(clock.nowUs()).to.be.below(lastDeadline);
    expect(a.enforcer.calls.length, 'nothing armed before the earlier deadline').to.equal(before);
    await clock.runUntil(lastDeadline + 2_000);
    const armed = holds(a.enforcer.calls.slice(before));
    expect(armed, 'armed once the earlier deadline has come').to.have.length(1);
    expect(armed[0]).to.be.greaterThan(lastDeadline);
  });
});
