/**
 * Twin lease threads (`lease.thread: twins`, README "Takeover gates") as the lease services
 * see them, on a virtual clock and a simulated LAN: member a runs two services that share
 * one voter state (SharedVoterCell), on the peer port and the one after it; b and c run
 * one each. Each twin has a simulated CPU of its own (a SimHost of its own at a's address,
 * frozen to stop its timers and its datagrams, as a host that does not run one virtual CPU).
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import { SimPeerNet, SimPeerTransport } from '../../../hal/peer/sim.js';
import { HostClock } from '../../../hal/sim/host-clock.js';
import { SimLan, type SimHost } from '../../../hal/sim/lan.js';
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

function twinsCluster(opts: { shared: boolean; cAsksOnTwinPortOnly?: boolean }): {
  clock: VirtualClock;
  a: [Service, Service];
  b: Service;
  c: Service;
} {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 100);
  const net = new SimPeerNet(lan);
  const names = MEMBERS.map((m) => m.name);
  const cellBuffer = SharedVoterCell.create(0);
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
              twinPort: TWIN_PORT,
              twinMembers: names,
            },
          }),
    });
    return { name, host, service, enforcer, held, lost };
  };
  const cellFor = (): VoterCell =>
    opts.shared
      ? new SharedVoterCell(cellBuffer, names)
      : new LocalVoterCell({ startedUs: 0, highestEpoch: 0, promise: null });
  const a: [Service, Service] = [make('a', PORT, cellFor(), 0), make('a', TWIN_PORT, cellFor(), 1)];
  const b = make('b', PORT, null, null);
  // c on the twin port: it asks (and is answered) there only, so only a's twin 1 hears it.
  const c = make('c', PORT, null, null, opts.cAsksOnTwinPortOnly === true ? TWIN_PORT : PORT);
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
    const { clock, a } = twinsCluster({ shared: true });
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
    const { clock, a } = twinsCluster({ shared: true });
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
    const { clock, a, b, c } = twinsCluster({ shared: true, cAsksOnTwinPortOnly: true });
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
    const { clock, b, c } = twinsCluster({ shared: false, cAsksOnTwinPortOnly: true });
    await clock.runFor(100_000);
    b.service.acquire(1);
    await clock.runFor(20_000);
    c.service.acquire(2);
    await clock.runFor(60_000);
    expect(b.service.status().holder?.held).to.equal(true);
    expect(c.held).to.have.length(1);
  });

  it("twin 1's requests carry sequence numbers twin 0 never uses, and grants come back to the twin that asked", async () => {
    const { clock, a, b } = twinsCluster({ shared: true });
    await clock.runFor(100_000);
    a[0].service.acquire(1);
    a[1].service.acquire(1);
    await clock.runFor(30_000);
    // b answered both twins, each on its own port.
    const transport = (b.service as unknown as { o: { transport: SimPeerTransport } }).o.transport;
    const ports = new Set(transport.sent.map((s) => s.port));
    expect([...ports].sort()).to.deep.equal([PORT, TWIN_PORT]);
    expect(a[0].held).to.have.length(1);
    expect(a[1].held).to.have.length(1);
  });
});
