/**
 * The lease service tells a lease lost to its own event loop from one its voters did not
 * renew (README "Takeover gates", `lease`): three members' services on a virtual clock, one
 * member's agent frozen (every timer and datagram of it waits until it thaws), or its
 * voters' switch ports silent.
 */
import { expect } from 'chai';
import { cluster, freezeFor, member } from './lease-cluster.js';
import type { Member } from './lease-cluster.js';

describe('lease service: a lease lost to its own event loop, or to its voters', () => {
  async function heldLease(loopName?: string): Promise<ReturnType<typeof cluster> & { a: Member }> {
    const c = cluster(loopName);
    // Past every voter's quiet period after its start.
    await c.clock.runFor(100_000);
    const a = member(c.members, 'a');
    a.service.acquire(1);
    await c.clock.runFor(50_000);
    expect(a.service.status().holder?.held).to.equal(true);
    return { ...c, a };
  }

  it('says the agent held its own requests when its loop stalled past the lease', async () => {
    const { clock, a } = await heldLease();
    freezeFor(clock, a.host, 40_000);
    await clock.runFor(60_000);
    expect(a.lost).to.have.length(1);
    expect(a.lost[0]).to.match(/this agent's own requests were held up to 3\d(\.\d)? ms by its event loop/);
    expect(a.warnings.join('\n')).to.match(
      /lease-request-late: the lease request at epoch 1 went out 3\d(\.\d)? ms late/,
    );
    expect(a.service.status().lateRequests).to.equal(1);
  });

  it('names the lease thread when the service runs on one (lease.thread: worker)', async () => {
    const { clock, a } = await heldLease('lease thread');
    freezeFor(clock, a.host, 40_000);
    await clock.runFor(60_000);
    expect(a.lost).to.have.length(1);
    expect(a.lost[0]).to.match(/this agent's own requests were held up to 3\d(\.\d)? ms by its lease thread/);
    expect(a.warnings.join('\n')).to.contain("this agent's lease thread was held");
  });

  it('says the requests went out on time when no voter answered them', async () => {
    const { clock, members, a } = await heldLease();
    member(members, 'b').host.silent = true;
    member(members, 'c').host.silent = true;
    await clock.runFor(60_000);
    expect(a.lost).to.have.length(1);
    expect(a.lost[0]).to.match(/requests went out on time \(\d+ in its last 25.0 ms\) and no majority answered them/);
    expect(a.warnings).to.deep.equal([]);
  });

  it('warns of a hold that the lease survived, and counts it', async () => {
    const { clock, a } = await heldLease();
    freezeFor(clock, a.host, 12_000);
    await clock.runFor(60_000);
    expect(a.lost).to.deep.equal([]);
    expect(a.warnings).to.have.length(1);
    expect(a.warnings[0]).to.contain('a hold of more than 20.0 ms loses the lease');
    const status = a.service.status();
    expect(status.lateRequests).to.equal(1);
    expect(status.worstLateMs).to.be.within(6, 12);
  });

  it('gives the lease up when the enforcer removed the address at one of its deadlines, renewed or not', async () => {
    const { clock, a } = await heldLease();
    // A renewal granted just before the deadline the enforcer had: the agent's lease runs on.
    const enforcedDeadline = a.enforcer.holds.at(-3) ?? 0;
    a.enforcer.expire(400, enforcedDeadline);
    expect(a.lost).to.have.length(1);
    expect(a.lost[0]).to.match(
      /^the enforcer removed the primary address at the lease's deadline before a renewal reached it: /,
    );
    // Judged against the enforcer's deadline: the requests before it went out on time, and
    // the renewal that moved the service's own deadline came after it.
    expect(a.lost[0]).to.match(
      /requests went out on time \(\d+ in its last 25.0 ms\).*; a renewal came after that deadline$/,
    );
    expect(a.service.status().holder).to.equal(null);
    await clock.runFor(10_000);
    expect(a.lost, 'once').to.have.length(1);
  });

  it("ignores the enforcer removing an address at an earlier lease's deadline", async () => {
    const { clock, a } = await heldLease();
    const first = a.enforcer.holds[0] ?? 0;
    a.enforcer.expire(400, first - 50_000);
    await clock.runFor(10_000);
    expect(a.lost).to.deep.equal([]);
    expect(a.service.status().holder?.held).to.equal(true);
  });
});
