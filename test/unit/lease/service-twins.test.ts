/**
 * Twin lease threads (`lease.thread: twins`, README "Takeover gates") as the lease services
 * see them, on a virtual clock and a simulated LAN: member a runs two services that share
 * one voter state (SharedVoterCell), on the peer port and the one after it; b and c run
 * two each too, or one each. Each twin has a simulated CPU of its own (a SimHost of its own
 * at its member's address, frozen to stop its timers and its datagrams, as a host that does
 * not run one virtual CPU).
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import { SimPeerNet, SimPeerTransport } from '../../../hal/peer/sim.js';
import { HostClock } from '../../../hal/sim/host-clock.js';
import { SimLan, type SimHost } from '../../../hal/sim/lan.js';
import { encodeLeaseFrame } from '../../../src/lease/frame.js';
import { LeaseService } from '../../../src/lease/service.js';
import { TWIN_SEQ_BASE } from '../../../src/lease/thread/messages.js';
import { LocalVoterCell, SharedVoterCell } from '../../../src/lease/voter-cell.js';
import type { VoterCell } from '../../../src/lease/voter-cell.js';
import { PeerKey } from '../../../src/peer/key.js';
import { freezeFor, MEMBERS, RecordingEnforcer } from './lease-cluster.js';

const KEY = PeerKey.fromSecret(Buffer.from('lease twins test key of 32 bytes'));
const PORT = 7405;
const TWIN_PORT = PORT + 1;
const TIMING = { durationUs: 25_000, drift: 0.001, dropUs: 5_000 };

interface Service {
  name: string;
  host: SimHost;
  service: LeaseService;
  enforcer: RecordingEnforcer;
  held: string[];
  lost: string[];
}

function twinsCluster(opts: { shared: boolean; allTwins?: boolean; cAsksOnTwinPortOnly?: boolean }): {
  clock: VirtualClock;
  a: [Service, Service];
  b: Service[];
  c: Service[];
} {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 100);
  const net = new SimPeerNet(lan);
  const names = MEMBERS.map((m) => m.name);
  const buffers = new Map(MEMBERS.map((m) => [m.name, SharedVoterCell.create(0)]));
  let mac = 1;
  /** `port`: where its socket is bound; `askPort`: where it asks the others (the peer port). */
  const make = (name: string, port: number, cell: VoterCell | null, twin: 0 | 1 | null, askPort = PORT): Service => {
    const m = MEMBERS.find((x) => x.name === name)!;
    const host = lan.addHost(
      twin === null ? name : `${name}#${twin}`,
      `02:00:00:00:00:${(mac++).toString(16).padStart(2, '0')}`,
    );
    const transport = new SimPeerTransport(net, host, [{ path: 'lan', address: m.lan }], port);
    const enforcer = new RecordingEnforcer(() => clock.nowUs());
    const held: string[] = [];
    const lost: string[] = [];
    const service = new LeaseService({
      self: name,
      members: MEMBERS,
      port: askPort,
      key: KEY,
      transport,
      clock: new HostClock(clock, host),
      nonce: Buffer.alloc(16, name.charCodeAt(0)),
      timing: TIMING,
      renewUs: 5_000,
      enforcer,
      holdsPrimary: () => false,
      onHeld: (_e, detail) => held.push(detail),
      onLost: (_e, detail) => lost.push(detail),
      onYield: () => undefined,
      log: () => undefined,
      ...(cell === null || twin === null
        ? {}
        : {
            twin: {
              cell,
              seqBase: twin === 1 ? TWIN_SEQ_BASE : 0,
              askPort: twin === 1 ? TWIN_PORT : PORT,
              twinMembers: names,
            },
          }),
    });
    return { name, host, service, enforcer, held, lost };
  };
  const cellFor = (name: string): VoterCell =>
    opts.shared
      ? new SharedVoterCell(buffers.get(name)!, names)
      : new LocalVoterCell({ startedUs: 0, highestEpoch: 0, promise: null });
  const twins = (name: string): [Service, Service] => [
    make(name, PORT, cellFor(name), 0),
    make(name, TWIN_PORT, cellFor(name), 1),
  ];
  const a = twins('a');
  const b = opts.allTwins === true ? twins('b') : [make('b', PORT, null, null)];
  // c asking on the twin port: only a's twin 1 hears it (b has no socket there).
  const c =
    opts.allTwins === true
      ? twins('c')
      : [make('c', PORT, null, null, opts.cAsksOnTwinPortOnly === true ? TWIN_PORT : PORT)];
  return { clock, a, b, c };
}

/** The enforcer's deadline at `atUs` as hotspare-enforcer keeps it: the later of the twins' last holds. */
function enforcedAt(twins: readonly Service[], atUs: number): number | null {
  const lasts = twins.map((t) => t.enforcer.calls.filter((c) => c.atUs <= atUs).at(-1));
  const holds = lasts.flatMap((c) => (c === undefined || !c.call.startsWith('hold ') ? [] : [Number(c.call.slice(5))]));
  return holds.length === 0 ? null : Math.max(...holds);
}

describe('lease service: twin lease threads', () => {
  it('a lease renewed by both twins outlives a 100 ms stop of one twin (L 25 ms)', async () => {
    const { clock, a } = twinsCluster({ shared: true, allTwins: true });
    await clock.runFor(100_000);
    a[0].service.acquire(1);
    a[1].service.acquire(1);
    await clock.runFor(50_000);
    expect(a[0].held).to.have.length(1);
    expect(a[1].held).to.have.length(1);
    const stopAt = clock.nowUs();
    freezeFor(clock, a[0].host, 100_000);
    // Sampled every millisecond through the stop and after: the deadline the enforcer keeps
    // (the later twin's) is never in the past.
    for (let t = 0; t < 150; t++) {
      await clock.runFor(1000);
      const deadline = enforcedAt(a, clock.nowUs());
      expect(deadline, `at ${(clock.nowUs() - stopAt) / 1000} ms into the stop`).to.be.above(clock.nowUs());
    }
    // Twin 0 ran out by its own reckoning when it woke up; twin 1 never did.
    expect(a[0].lost).to.have.length(1);
    expect(a[0].lost[0]).to.contain("this agent's own requests were held");
    expect(a[1].lost).to.deep.equal([]);
    expect(a[1].service.status().holder?.held).to.equal(true);
  });

  it('without the twin, the same stop ends the lease (the enforcer deadline passes)', async () => {
    const { clock, a } = twinsCluster({ shared: true, allTwins: true });
    await clock.runFor(100_000);
    a[0].service.acquire(1);
    await clock.runFor(50_000);
    freezeFor(clock, a[0].host, 100_000);
    let lapsed = false;
    for (let t = 0; t < 150; t++) {
      await clock.runFor(1000);
      const deadline = enforcedAt(a, clock.nowUs());
      if (deadline === null || deadline <= clock.nowUs()) lapsed = true;
    }
    expect(lapsed).to.equal(true);
  });

  it('the twins are one voter: a promise one gave binds the other (c asks only twin 1)', async () => {
    const {
      clock,
      a,
      b: [b],
      c: [c],
    } = twinsCluster({ shared: true, cAsksOnTwinPortOnly: true });
    if (b === undefined || c === undefined) throw new Error('b and c');
    await clock.runFor(100_000);
    b.service.acquire(1);
    await clock.runFor(20_000);
    expect(b.held).to.have.length(1);
    c.service.acquire(2);
    await clock.runFor(60_000);
    expect(c.held, 'c granted while b holds').to.deep.equal([]);
    expect(a[1].service.status().refusalsSent).to.be.above(0);
    expect(a[1].service.status().grantsSent).to.equal(0);
    expect(b.service.status().holder?.held).to.equal(true);
  });

  it('twins that kept separate voter states would each grant a different claimant (the check above can fail)', async () => {
    const {
      clock,
      b: [b],
      c: [c],
    } = twinsCluster({ shared: false, cAsksOnTwinPortOnly: true });
    if (b === undefined || c === undefined) throw new Error('b and c');
    await clock.runFor(100_000);
    b.service.acquire(1);
    await clock.runFor(20_000);
    c.service.acquire(2);
    await clock.runFor(60_000);
    expect(b.service.status().holder?.held).to.equal(true);
    expect(c.held).to.have.length(1);
  });

  it('each twin asks the twin of its own index, and the grants come back to the port that asked', async () => {
    const { clock, a, b } = twinsCluster({ shared: true, allTwins: true });
    await clock.runFor(100_000);
    a[0].service.acquire(1);
    a[1].service.acquire(1);
    await clock.runFor(30_000);
    const sent = (s: Service): SimPeerTransport['sent'] =>
      (s.service as unknown as { o: { transport: SimPeerTransport } }).o.transport.sent;
    // a's twin 0 asked on the peer port only, twin 1 on the twin port only; b's twins answered each on its own.
    expect([...new Set(sent(a[0]).map((x) => x.port))]).to.deep.equal([PORT]);
    expect([...new Set(sent(a[1]).map((x) => x.port))]).to.deep.equal([TWIN_PORT]);
    expect([...new Set(sent(b[0]!).map((x) => x.port))]).to.deep.equal([PORT]);
    expect([...new Set(sent(b[1]!).map((x) => x.port))]).to.deep.equal([TWIN_PORT]);
    expect(a[0].held).to.have.length(1);
    expect(a[1].held).to.have.length(1);
    expect(a[1].held[0]).to.match(/granted by a, [bc]/);
  });
});

describe('lease service: a twin that gives its claim up keeps the promise to itself', () => {
  /** Twin 0 of a, claiming (not held) with its promise to itself in the cell; b asks at a higher epoch. */
  async function yieldTo(twin: boolean): Promise<{ promisedTo: string | null; granted: number }> {
    const clock = new VirtualClock();
    const lan = new SimLan(clock, 100);
    const net = new SimPeerNet(lan);
    const host = lan.addHost('a', '02:00:00:00:00:01');
    const a = MEMBERS.find((m) => m.name === 'a')!;
    const b = MEMBERS.find((m) => m.name === 'b')!;
    const transport = new SimPeerTransport(net, host, [{ path: 'lan', address: a.lan }], PORT);
    const names = MEMBERS.map((m) => m.name);
    const cell = new SharedVoterCell(SharedVoterCell.create(0), names);
    const service = new LeaseService({
      self: 'a',
      members: MEMBERS,
      port: PORT,
      key: KEY,
      transport,
      clock: new HostClock(clock, host),
      nonce: Buffer.alloc(16, 1),
      timing: TIMING,
      renewUs: 5_000,
      enforcer: null,
      holdsPrimary: () => false,
      onHeld: () => undefined,
      onLost: () => undefined,
      onYield: () => undefined,
      log: () => undefined,
      ...(twin ? { twin: { cell, seqBase: 0, askPort: PORT, twinMembers: names } } : {}),
    });
    // Past the quiet period after the start; then the claim's first round votes for itself
    // (its requests reach nobody: no other endpoint).
    await clock.runFor(100_000);
    service.acquire(1);
    await clock.runFor(500);
    const frame = encodeLeaseFrame(
      { path: 'lan', kind: 'request', from: 'b', to: 'a', nonce: Buffer.alloc(16, 2), counter: 1, epoch: 5, seq: 1 },
      KEY,
    );
    transport.inject({ path: 'lan', from: b.lan!, fromPort: PORT, data: frame, receivedUs: clock.nowUs() });
    await clock.runFor(500);
    return { promisedTo: service.status().voter.promisedTo, granted: service.status().grantsSent };
  }

  it('one thread: its claim given up, it drops its vote for itself and grants the higher claim', async () => {
    expect(await yieldTo(false)).to.deep.equal({ promisedTo: 'b', granted: 1 });
  });

  it('a twin: the promise to itself stays (the other twin may hold the lease on it), b is refused', async () => {
    expect(await yieldTo(true)).to.deep.equal({ promisedTo: 'a', granted: 0 });
  });
});
