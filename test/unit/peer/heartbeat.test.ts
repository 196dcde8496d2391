/**
 * The heartbeat service on the simulated peer transport, in virtual time: delivery on both
 * paths, silence per path (silent switch port, cut management port, power off), and what is
 * dropped (strangers, replays, other versions, frames for someone else).
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import { SimPeerNet, SimPeerTransport } from '../../../hal/peer/sim.js';
import { HostClock } from '../../../hal/sim/host-clock.js';
import { SimLan } from '../../../hal/sim/lan.js';
import type { SimHost } from '../../../hal/sim/lan.js';
import { encodeFrame, NONCE_BYTES, PeerHeartbeat, PeerKey } from '../../../src/peer/index.js';
import type { PeerObservation, PeerSilence } from '../../../src/peer/index.js';

const KEY = PeerKey.fromSecret(Buffer.from('heartbeat test key, 32 bytes....'));
const MS = 1000;
const MEMBERS = ['a', 'b', 'c'].map((name, i) => ({ name, lan: `198.18.0.${11 + i}`, mgmt: `198.18.1.${21 + i}` }));

interface Node {
  host: SimHost;
  transport: SimPeerTransport;
  heartbeat: PeerHeartbeat;
  seen: PeerObservation[];
  silent: PeerSilence[];
  logs: Array<{ level: string; event: string; message: string }>;
}

function setup(names = ['a', 'b', 'c']): {
  clock: VirtualClock;
  lan: SimLan;
  net: SimPeerNet;
  nodes: Map<string, Node>;
} {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 50, 1);
  const net = new SimPeerNet(lan, 2);
  const nodes = new Map<string, Node>();
  names.forEach((name, i) => {
    const host = lan.addHost(name, `02:00:00:00:00:0${i + 1}`);
    const m = MEMBERS[i]!;
    const transport = new SimPeerTransport(
      net,
      host,
      [
        { path: 'lan', address: m.lan },
        { path: 'mgmt', address: m.mgmt },
      ],
      7405,
    );
    const node: Node = { host, transport, seen: [], silent: [], logs: [], heartbeat: null as unknown as PeerHeartbeat };
    node.heartbeat = new PeerHeartbeat({
      self: name,
      members: MEMBERS,
      port: 7405,
      intervalMs: 100,
      deadAfterMs: 1000,
      key: KEY,
      transport,
      clock: new HostClock(clock, host),
      nonce: Uint8Array.from({ length: NONCE_BYTES }, () => i + 1),
      local: () => ({ phase: 'spare', role: 'spare', epoch: 3 + i, holdsPrimary: false, holdsMonitor: i === 1 }),
      onObservation: (o) => node.seen.push(o),
      onSilent: (s) => node.silent.push(s),
      log: (level, event, message) => node.logs.push({ level, event, message }),
    });
    nodes.set(name, node);
  });
  for (const n of nodes.values()) n.heartbeat.start();
  return { clock, lan, net, nodes };
}

function get(nodes: Map<string, Node>, name: string): Node {
  const n = nodes.get(name);
  if (n === undefined) throw new Error(name);
  return n;
}

describe('peer heartbeat service (simulated transport)', () => {
  it('every member hears every other on both paths, with what it says of itself', async () => {
    const { clock, nodes } = setup();
    await clock.runFor(500 * MS);
    const a = get(nodes, 'a');
    const status = a.heartbeat.status();
    expect(status.members.map((m) => m.node)).to.deep.equal(['b', 'c']);
    for (const m of status.members) {
      expect(m.lan?.heardMsAgo).to.be.at.most(100);
      expect(m.mgmt?.heardMsAgo).to.be.at.most(100);
      expect(m.lan?.silent).to.equal(false);
    }
    expect(status.members[0]).to.deep.include({ phase: 'spare', epoch: 4, holdsMonitor: true });
    expect(status.highest).to.deep.equal({ epoch: 5, node: 'c' });
    expect(status.dropped.replay + status.dropped.unauthenticated + status.dropped.stranger).to.equal(0);
    expect(a.seen.some((o) => o.node === 'b' && o.path === 'mgmt')).to.equal(true);
    expect(a.silent).to.deep.equal([]);
    expect(JSON.stringify(status)).to.not.contain('heartbeat test key');
  });

  it('passes every heartbeat of the cadence on (the role machine judges how fresh a word is), not a burst', async () => {
    const { clock, nodes } = setup();
    await clock.runFor(2050 * MS);
    const fromB = get(nodes, 'a').seen.filter((o) => o.node === 'b' && o.path === 'lan');
    // 20 or 21 frames in 2.05 s, 100 ms apart: each passes.
    expect(fromB.length).to.be.within(20, 21);
    const gaps = fromB.slice(1).map((o, i) => o.atUs - (fromB[i]?.atUs ?? 0));
    expect(Math.max(...gaps)).to.be.at.most(110 * MS);
  });

  it('a silent switch port: silent on the LAN path once, still heard on mgmt', async () => {
    const { clock, nodes } = setup();
    await clock.runFor(500 * MS);
    get(nodes, 'c').host.silent = true;
    const cutUs = clock.nowUs();
    await clock.runFor(1500 * MS);
    const a = get(nodes, 'a');
    expect(a.silent.map((s) => `${s.node}/${s.path}`)).to.deep.equal(['c/lan']);
    expect(a.silent[0]!.nowUs - cutUs).to.be.within(900 * MS, 1200 * MS);
    const c = a.heartbeat.status().members.find((m) => m.node === 'c');
    expect(c?.lan?.silent).to.equal(true);
    expect(c?.mgmt?.heardMsAgo).to.be.at.most(100);
    expect(
      get(nodes, 'c')
        .silent.map((s) => `${s.node}/${s.path}`)
        .sort(),
    ).to.deep.equal(['a/lan', 'b/lan']);
    // Back on the wire: heard again, and a later silence is reported again.
    get(nodes, 'c').host.silent = false;
    await clock.runFor(300 * MS);
    expect(a.heartbeat.status().members.find((m) => m.node === 'c')?.lan?.silent).to.equal(false);
    expect(a.logs.some((l) => l.event === 'peer-heard')).to.equal(true);
  });

  it('a cut management port: silent on mgmt only', async () => {
    const { clock, nodes } = setup();
    await clock.runFor(300 * MS);
    get(nodes, 'b').host.mgmtUp = false;
    await clock.runFor(1500 * MS);
    expect(get(nodes, 'a').silent.map((s) => `${s.node}/${s.path}`)).to.deep.equal(['b/mgmt']);
  });

  it('powered off: silent on both paths; a member never heard is reported silent too', async () => {
    const { clock, lan, nodes } = setup();
    await clock.runFor(300 * MS);
    get(nodes, 'c').host.powerOff();
    await clock.runFor(1500 * MS);
    expect(
      get(nodes, 'a')
        .silent.map((s) => `${s.node}/${s.path}`)
        .sort(),
    ).to.deep.equal(['c/lan', 'c/mgmt']);
    expect(lan.hosts.size).to.equal(3);
    const lone = setup(['a']);
    await lone.clock.runFor(1200 * MS);
    expect(
      get(lone.nodes, 'a')
        .silent.map((s) => `${s.node}/${s.path}`)
        .sort(),
    ).to.deep.equal(['b/lan', 'b/mgmt', 'c/lan', 'c/mgmt']);
  });

  it('the LAN path carries the LAN’s loss; a lossy LAN still keeps a member heard', async () => {
    const { clock, lan, nodes } = setup();
    lan.lossRate = 0.3;
    await clock.runFor(3000 * MS);
    expect(get(nodes, 'a').silent).to.deep.equal([]);
  });

  it('drops and counts strangers, replays, frames for others and other versions, logging them rate-limited', async () => {
    const { clock, nodes } = setup(['a']);
    const a = get(nodes, 'a');
    const good = (counter: number, to = 'a') =>
      encodeFrame(
        {
          path: 'lan',
          from: 'b',
          to,
          nonce: new Uint8Array(NONCE_BYTES),
          counter,
          phase: 'monitor',
          role: 'monitor',
          epoch: 1,
          holdsPrimary: false,
          holdsMonitor: true,
        },
        KEY,
      );
    const deliver = (from: string, data: Uint8Array, path: 'lan' | 'mgmt' = 'lan') =>
      a.transport.inject({ path, from, fromPort: 7405, data, receivedUs: clock.nowUs() });
    deliver('198.18.0.12', good(1));
    deliver('198.18.0.12', good(1)); // replay
    deliver('198.18.0.99', good(2)); // stranger address
    deliver('198.18.0.13', good(3)); // c's address, b's name
    deliver('198.18.0.12', good(4, 'c')); // for someone else
    deliver('198.18.1.22', good(5), 'mgmt'); // a LAN frame on the mgmt path
    const v2 = Buffer.from(good(6));
    v2[4] = 2;
    for (let i = 0; i < 50; i++) deliver('198.18.0.12', v2);
    deliver('198.18.0.12', Buffer.from('garbage'));
    await clock.runFor(10 * MS);
    const s = a.heartbeat.status();
    expect(s.accepted).to.equal(1);
    expect(s.dropped).to.deep.include({
      replay: 1,
      stranger: 2,
      'not-for-us': 1,
      'wrong-path': 1,
      version: 50,
      malformed: 1,
    });
    const versionLines = a.logs.filter((l) => l.event === 'peer-version');
    expect(versionLines).to.have.length(1);
    expect(versionLines[0]!.level).to.equal('error');
    expect(versionLines[0]!.message).to.contain('198.18.0.12').and.contain('version 2.0');
    expect(a.logs.filter((l) => l.event === 'peer-dropped').length).to.be.at.most(10);
    for (const l of a.logs) expect(l.message).to.not.contain('heartbeat test key');
  });
});
