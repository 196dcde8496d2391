/**
 * The agent thread's view of twin lease threads (src/lease/thread/twin-combiner.ts): held
 * once, lost only when the lease is gone, a twin that ran out while the other holds asks
 * again, a yield once and never while the other twin holds.
 */
import { expect } from 'chai';
import { TwinCombiner } from '../../../src/lease/thread/twin-combiner.js';
import type { TwinIndex } from '../../../src/lease/thread/twin-combiner.js';
import type { ToLeaseWorker } from '../../../src/lease/thread/messages.js';

/** A combiner whose twin 0 is ready (its enforcer started) unless `started` is false. */
function combiner(started = true): {
  t: TwinCombiner;
  said: string[];
  posts: Array<{ twin: TwinIndex; message: ToLeaseWorker }>;
  logs: string[];
  ends: [number | null, number | null];
  /** Runs the deferred tasks whose delay is at most `delayMs`. */
  runDeferred: (delayMs: number) => void;
} {
  const said: string[] = [];
  const posts: Array<{ twin: TwinIndex; message: ToLeaseWorker }> = [];
  const logs: string[] = [];
  const ends: [number | null, number | null] = [null, null];
  let deferred: Array<{ task: () => void; delayMs: number }> = [];
  const runDeferred = (delayMs: number): void => {
    const due = deferred.filter((d) => d.delayMs <= delayMs);
    deferred = deferred.filter((d) => d.delayMs > delayMs);
    for (const d of due) d.task();
  };
  const t = new TwinCombiner(
    {
      nowUs: () => NOW,
      untilUs: (twin) => ends[twin],
      callbacks: () => ({
        onHeld: (epoch, detail) => said.push(`held ${epoch}: ${detail}`),
        onLost: (epoch, detail) => said.push(`lost ${epoch}: ${detail}`),
        onYield: (epoch, detail) => said.push(`yield ${epoch}: ${detail}`),
        log: () => undefined,
      }),
      post: (twin, message) => posts.push({ twin, message }),
      defer: (task, delayMs) => deferred.push({ task, delayMs }),
      log: (_level, event) => logs.push(event),
    },
    JOIN_AFTER_MS,
    JOIN_HELD_MS,
  );
  if (started) t.started();
  return { t, said, posts, logs, ends, runDeferred };
}

const NOW = 1_000_000;
const JOIN_AFTER_MS = 25;
const JOIN_HELD_MS = 5;

/** Both twins hold `epoch`, each with a lease that ends after NOW. */
function bothHold(c: { t: TwinCombiner; ends: [number | null, number | null] }, epoch: number): void {
  c.t.held(0, epoch, 'x');
  c.ends[0] = NOW + 20_000;
  c.t.held(1, epoch, 'y');
  c.ends[1] = NOW + 20_000;
}

describe('lease twins: the combined lease the agent sees', () => {
  it('a claim asks twin 0; twin 1 a renewal period after the grant; held said once', () => {
    const { t, said, posts, runDeferred } = combiner();
    t.acquire(3);
    expect(posts.map((p) => `${p.twin}:${p.message.type}`)).to.deep.equal(['0:acquire']);
    t.held(0, 3, 'granted by a, c');
    expect(said).to.deep.equal(['held 3: granted by a, c (twin 0)']);
    runDeferred(JOIN_HELD_MS - 1);
    expect(posts.length, 'not while the agent assigns and announces the address').to.equal(1);
    runDeferred(JOIN_HELD_MS);
    expect(posts.map((p) => `${p.twin}:${p.message.type}`)).to.deep.equal(['0:acquire', '1:acquire']);
    t.held(1, 3, 'granted by a, b');
    expect(said).to.have.length(1);
    // The fallback that was due later does not ask twin 1 again.
    runDeferred(JOIN_AFTER_MS);
    expect(posts).to.have.length(2);
  });

  it('twin 1 asks too when twin 0 has no grant within the wait; a claim that ended asks nobody', () => {
    const { t, posts, runDeferred } = combiner();
    t.acquire(3);
    runDeferred(JOIN_AFTER_MS - 1);
    expect(posts.map((p) => `${p.twin}:${p.message.type}`)).to.deep.equal(['0:acquire']);
    runDeferred(JOIN_AFTER_MS);
    expect(posts.map((p) => `${p.twin}:${p.message.type}`)).to.deep.equal(['0:acquire', '1:acquire']);
    const ended = combiner();
    ended.t.acquire(4);
    ended.t.release();
    ended.runDeferred(JOIN_AFTER_MS);
    expect(ended.posts.map((p) => `${p.twin}:${p.message.type}`)).to.deep.equal([
      '0:acquire',
      '0:release',
      '1:release',
    ]);
    // A lease lost before twin 1 joined: twin 1 is not asked for it afterwards.
    const lost = combiner();
    lost.t.acquire(5);
    lost.t.held(0, 5, 'x');
    lost.t.lost(0, 5, 'the enforcer removed the address', true);
    lost.runDeferred(JOIN_AFTER_MS);
    expect(lost.posts.map((p) => `${p.twin}:${p.message.type}`)).to.deep.equal(['0:acquire']);
  });

  it("twin 1's grant before twin 0 started the enforcer is said only once twin 0 is ready", () => {
    const { t, said } = combiner(false);
    t.acquire(3);
    t.held(1, 3, 'granted by a, b');
    expect(said, 'no enforcer yet').to.deep.equal([]);
    t.started();
    expect(said).to.deep.equal(['held 3: granted by a, b (twin 1)']);
    // A grant that ran out before twin 0 was ready is not said at all.
    const late = combiner(false);
    late.t.acquire(4);
    late.t.held(1, 4, 'granted by a, b');
    late.t.lost(1, 4, 'no majority renewed it', false);
    late.t.started();
    expect(late.said).to.deep.equal([]);
    // Twin 0's own grant needs no wait: its enforcer is started before its service.
    const own = combiner(false);
    own.t.acquire(5);
    own.t.held(0, 5, 'granted by a, c');
    expect(own.said).to.deep.equal(['held 5: granted by a, c (twin 0)']);
  });

  it('a twin that ran out while the other holds asks again, and the agent hears nothing', () => {
    const c = combiner();
    const { t, said, posts, logs } = c;
    t.acquire(3);
    bothHold(c, 3);
    posts.length = 0;
    t.lost(0, 3, 'no majority renewed it', false);
    expect(said).to.deep.equal(['held 3: x (twin 0)']);
    expect(posts).to.deep.equal([{ twin: 0, message: { type: 'acquire', epoch: 3 } }]);
    expect(logs).to.deep.equal(['lease-twin-held', 'lease-twin-lost']);
    t.held(0, 3, 'again');
    expect(said).to.have.length(1);
    expect(logs).to.deep.equal(['lease-twin-held', 'lease-twin-lost', 'lease-twin-held']);
  });

  it('the lease is lost when the twin still holding runs out too', () => {
    const c = combiner();
    const { t, said } = c;
    t.acquire(3);
    bothHold(c, 3);
    t.lost(0, 3, 'ran out', false);
    t.lost(1, 3, 'ran out too', false);
    expect(said).to.deep.equal(['held 3: x (twin 0)', 'lost 3: ran out too (twin 1)']);
  });

  it("the lease is lost when the other twin's latest lease end is past (it stopped before it could say so)", () => {
    const c = combiner();
    const { t, said, posts } = c;
    t.acquire(3);
    bothHold(c, 3);
    c.ends[1] = NOW - 1;
    posts.length = 0;
    t.lost(0, 3, 'ran out', false);
    expect(said).to.deep.equal(['held 3: x (twin 0)', 'lost 3: ran out (twin 0)']);
    expect(posts).to.deep.equal([]);
    // Twin 1's own word on that loss, when it comes, is logged (not said to the agent again).
    t.lost(1, 3, 'its requests were held 100 ms', false);
    expect(said).to.have.length(2);
    expect(c.logs.at(-1)).to.equal('lease-twin-lost-too');
  });

  it('the enforcer removing the address is a loss even while the other twin holds', () => {
    const c = combiner();
    const { t, said, posts } = c;
    t.acquire(3);
    bothHold(c, 3);
    posts.length = 0;
    t.lost(0, 3, 'the enforcer removed the primary address', true);
    t.lost(1, 3, 'the enforcer removed the primary address', true);
    expect(said).to.deep.equal(['held 3: x (twin 0)', 'lost 3: the enforcer removed the primary address (twin 0)']);
    expect(posts).to.deep.equal([]);
  });

  it('after a release, what the twins still say of that epoch is ignored', () => {
    const { t, said } = combiner();
    t.acquire(3);
    t.held(0, 3, 'x');
    t.release();
    t.lost(1, 3, 'late', false);
    t.held(1, 3, 'late');
    expect(said).to.deep.equal(['held 3: x (twin 0)']);
  });

  it('a yield is said once, releases the other twin, and is not said while the other twin holds', () => {
    const a = combiner();
    a.t.acquire(4);
    a.posts.length = 0;
    a.t.yielded(0, 4, 'b claims at 5');
    a.t.yielded(1, 4, 'b claims at 5');
    expect(a.said).to.deep.equal(['yield 4: b claims at 5 (twin 0)']);
    expect(a.posts).to.deep.equal([{ twin: 1, message: { type: 'release' } }]);

    const b = combiner();
    b.t.acquire(4);
    b.t.held(1, 4, 'granted');
    b.t.yielded(0, 4, 'b claims at 5');
    expect(b.said).to.deep.equal(['held 4: granted (twin 1)']);
  });
});
