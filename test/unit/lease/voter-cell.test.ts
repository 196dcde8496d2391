/**
 * Where a lease service keeps its voter state (src/lease/voter-cell.ts): one thread's own,
 * or one state two twin threads share. Two real worker threads vote for two claimants on
 * one shared state: no grant to one falls inside a promise to the other. The same two
 * threads reading and writing without the lock do give such overlapping promises.
 */
import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { LocalVoterCell, SharedVoterCell } from '../../../src/lease/voter-cell.js';

const NAMES = ['a', 'b', 'c'];
const HAMMER = new URL('./fixtures/vote-hammer.js', import.meta.url);

interface Grant {
  to: string;
  atUs: number;
  untilUs: number;
}

function hammer(buffer: SharedArrayBuffer, claimant: string, count: number, racy: boolean): Promise<Grant[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HAMMER, { workerData: { buffer, names: NAMES, claimant, count, racy } });
    w.once('message', (grants: Grant[]) => resolve(grants));
    w.once('error', reject);
  });
}

/** Grants that fall inside a promise given earlier to another claimant. */
function overlaps(grants: Grant[]): number {
  const sorted = [...grants].sort((x, y) => x.atUs - y.atUs);
  const until = new Map<string, number>();
  let n = 0;
  for (const g of sorted) {
    for (const [to, u] of until) if (to !== g.to && g.atUs < u) n += 1;
    until.set(g.to, Math.max(until.get(g.to) ?? 0, g.untilUs));
  }
  return n;
}

describe('voter cell: one voter state for twin lease threads', () => {
  it('keeps a state and counts frames, on its own', () => {
    const cell = new LocalVoterCell({ startedUs: 5, highestEpoch: 0, promise: null });
    const r = cell.update((s) => [{ ...s, highestEpoch: 4, promise: { to: 'b', epoch: 4, untilUs: 99 } }, 'ok']);
    expect(r).to.equal('ok');
    expect(cell.read()).to.deep.equal({ startedUs: 5, highestEpoch: 4, promise: { to: 'b', epoch: 4, untilUs: 99 } });
    expect([cell.nextCounter(), cell.nextCounter()]).to.deep.equal([1, 2]);
  });

  it('two views of one shared state see each other, and share one frame counter', () => {
    const buffer = SharedVoterCell.create(1234);
    const x = new SharedVoterCell(buffer, NAMES);
    const y = new SharedVoterCell(buffer, NAMES);
    expect(y.read()).to.deep.equal({ startedUs: 1234, highestEpoch: 0, promise: null });
    x.update((s) => [{ ...s, highestEpoch: 7, promise: { to: 'c', epoch: 7, untilUs: 5000 } }, undefined]);
    expect(y.read()).to.deep.equal({ startedUs: 1234, highestEpoch: 7, promise: { to: 'c', epoch: 7, untilUs: 5000 } });
    expect([x.nextCounter(), y.nextCounter(), x.nextCounter()]).to.deep.equal([1, 2, 3]);
  });

  it('refuses a promise to a name that is no voter, and keeps the state it had', () => {
    const x = new SharedVoterCell(SharedVoterCell.create(0), NAMES);
    expect(() =>
      x.update((s) => [{ ...s, highestEpoch: 9, promise: { to: 'z', epoch: 9, untilUs: 1 } }, undefined]),
    ).to.throw(/z is not among the voters/);
    expect(x.read()).to.deep.equal({ startedUs: 0, highestEpoch: 0, promise: null });
    // The lock was given back: the next change goes through.
    x.update((s) => [{ ...s, highestEpoch: 1 }, undefined]);
    expect(x.read().highestEpoch).to.equal(1);
  });

  it('two threads voting for two claimants never give overlapping promises', async function () {
    this.timeout(60_000);
    const buffer = SharedVoterCell.create(0);
    const [b, c] = await Promise.all([hammer(buffer, 'b', 200_000, false), hammer(buffer, 'c', 200_000, false)]);
    // Both were granted many times (promises of 25 µs ran out between them), never overlapping.
    expect(b.length).to.be.above(10);
    expect(c.length).to.be.above(10);
    expect(overlaps([...b, ...c])).to.equal(0);
  });

  it('the same two threads without the lock do (so the check above can fail)', async function () {
    this.timeout(60_000);
    let found = 0;
    // Races are likely but not certain in one try: a few tries, each with fresh state.
    for (let attempt = 0; attempt < 5 && found === 0; attempt++) {
      const buffer = SharedVoterCell.create(0);
      const [b, c] = await Promise.all([hammer(buffer, 'b', 200_000, true), hammer(buffer, 'c', 200_000, true)]);
      found = overlaps([...b, ...c]);
    }
    expect(found).to.be.above(0);
  });
});
