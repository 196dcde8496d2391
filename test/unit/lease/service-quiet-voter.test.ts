/**
 * A member that stops answering lease requests is asked only every 100 ms until it answers
 * again (README "Takeover gates", `lease`): in the lab, requests every renewal period to a
 * member that was powered off piled up in its unresolved neighbour entry, charged to the
 * peer socket's send buffer, and held back the requests to the live voter until the lease
 * was lost, and every claim after it.
 */
import { expect } from 'chai';
import { cluster, member, MEMBERS } from './lease-cluster.js';
import type { Member } from './lease-cluster.js';

const MS = 1000;

function lanOf(name: string): string {
  const m = MEMBERS.find((x) => x.name === name);
  if (m === undefined) throw new Error(`no member ${name}`);
  return m.lan;
}

/** Datagrams `from` sent to `to` in the last `windowUs` before `nowUs`. */
function sentTo(from: Member, to: string, nowUs: number, windowUs: number): number {
  return from.sent.filter((s) => s.to === lanOf(to) && s.atUs > nowUs - windowUs).length;
}

describe('lease service: a member that stops answering is asked less often', () => {
  it('the holder asks a silent voter every 100 ms, keeps its lease on the other, and asks every round once it answers', async () => {
    const { clock, members } = cluster();
    await clock.runFor(100 * MS);
    const a = member(members, 'a');
    a.service.acquire(1);
    await clock.runFor(50 * MS);
    expect(a.held).to.have.length(1);
    member(members, 'c').host.silent = true;
    await clock.runFor(500 * MS);
    const now = clock.nowUs();
    expect(sentTo(a, 'c', now, 300 * MS), 'to the silent member').to.be.within(2, 4);
    expect(sentTo(a, 'b', now, 300 * MS), 'to the other').to.be.at.least(55);
    expect(a.lost).to.deep.equal([]);
    expect(a.service.status().holder?.held).to.equal(true);
    expect(a.warnings.filter((w) => w.startsWith('lease-voter-quiet: c answered no lease request'))).to.have.length(1);
    member(members, 'c').host.silent = false;
    await clock.runFor(300 * MS);
    expect(sentTo(a, 'c', clock.nowUs(), 100 * MS), 'every round again').to.be.at.least(18);
  });

  it('a claimant asks a silent voter every 100 ms too, and is granted by the others', async () => {
    const { clock, members } = cluster();
    await clock.runFor(100 * MS);
    const a = member(members, 'a');
    member(members, 'c').host.silent = true;
    // b promised nobody: the claim is granted at once; the claim's first rounds still go to c.
    a.service.acquire(1);
    await clock.runFor(400 * MS);
    expect(a.held).to.have.length(1);
    expect(sentTo(a, 'c', clock.nowUs(), 300 * MS)).to.be.within(2, 4);
  });
});
