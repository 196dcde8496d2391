/**
 * One Nic contract (hal/nic/index.ts), every driver: SimNic on a simulated LAN in virtual
 * time, and LinuxNic in a network namespace with a peer at the other end of a veth LAN.
 * Driver-only behaviour (child processes, the ARP helper, timings) is in linux-nic.test.ts.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { VirtualClock } from '../../../hal/clock/sim.js';
import type { ConflictReport } from '../../../hal/nic/index.js';
import { SimIcmpEcho } from '../../../hal/icmp/sim.js';
import { SimNic } from '../../../hal/nic/sim.js';
import { DEFAULT_ARP_TOOL } from '../../../hal/nic/linux.js';
import { SimLan } from '../../../hal/sim/lan.js';
import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { settle as settleIn, virtualWaitFor } from '../../fixtures/virtual-time.js';
import { createVethLan, destroyVethLan, netnsUnavailable } from './fixtures/netns.js';
import { NsSession } from './fixtures/ns-client.js';
import { run, waitFor } from '../../fixtures/processes.js';

/** What the contract needs of a driver and the LAN around it. */
interface Harness {
  /** The interface name errors must carry, and its MAC. */
  name: string;
  mac: string;
  peerIp: string;
  peerMac: string;
  /** A free address of the LAN, with prefix length. */
  free: string;
  /** Another, for the tests that assign it. */
  floating: string;
  /** Calls the driver: answers its value, or the error's name and message. */
  call(op: NicOp, ...args: unknown[]): Promise<{ value: unknown } | { error: { name: string; message: string } }>;
  /** The kernel (or the simulated host) gains or loses an address behind the driver's back. */
  outside(add: boolean, address: string): Promise<void>;
  /** The peer holds `address` too (or no longer). */
  peerHolds(add: boolean, address: string): Promise<void>;
  /**
   * The peer probes for `address` (RFC 5227, 100 ms probes one after another) until `over()`
   * says stop, as another server's boot check or a monitor's watch would.
   */
  peerProbes(address: string, over: () => boolean): Promise<void>;
  /** What the peer's ARP cache says of `ip`, lower case; null when nothing. */
  peerNeighbor(ip: string): Promise<string | null>;
  /** Traffic from us to the peer (an echo), so our ARP cache learns its MAC. */
  traffic(): Promise<void>;
  /** Our own link goes down or up. */
  ownLink(up: boolean): Promise<void>;
  linkEvents(): boolean[];
  /** Real or virtual milliseconds. */
  sleep(ms: number): Promise<void>;
  waitFor(condition: () => boolean, ms: number, what: string): Promise<void>;
  dispose(): Promise<void>;
}

type NicOp = 'assign' | 'release' | 'holds' | 'announce' | 'detectConflict' | 'neighborMac' | 'setNeighbor' | 'linkUp';

function simHarness(): Harness {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 50);
  const ours = lan.addHost('ours', '02:00:00:00:00:01');
  const peer = lan.addHost('peer', '02:00:00:00:00:02');
  peer.addresses.set('198.18.0.20', 0);
  const nic = new SimNic(lan, ours);
  const icmp = new SimIcmpEcho(lan, ours);
  const events: boolean[] = [];
  nic.onLink((up) => events.push(up));
  /** Runs virtual time until the promise settles. */
  const settle = <T>(operation: Promise<T>): Promise<T> => settleIn(clock, operation);
  return {
    name: nic.name,
    mac: ours.mac,
    peerIp: '198.18.0.20',
    peerMac: peer.mac,
    free: '198.18.0.50/24',
    floating: '198.18.0.30/24',
    call: async (op, ...args) => {
      try {
        const method = nic[op] as (...a: unknown[]) => Promise<unknown>;
        return { value: await settle(Promise.resolve().then(() => method.apply(nic, args))) };
      } catch (error) {
        return { error: { name: (error as Error).name, message: (error as Error).message } };
      }
    },
    outside: (add, address) => {
      const ip = address.split('/')[0] ?? address;
      if (add) ours.addresses.set(ip, clock.nowUs());
      else ours.addresses.delete(ip);
      return Promise.resolve();
    },
    peerHolds: (add, address) => {
      const ip = address.split('/')[0] ?? address;
      if (add) peer.addresses.set(ip, clock.nowUs());
      else peer.addresses.delete(ip);
      return Promise.resolve();
    },
    peerProbes: (address, over) => {
      const ip = address.split('/')[0] ?? address;
      // The first starts in this virtual tick, before the caller's check; the rest run while
      // the caller runs virtual time. Nothing to wait for after: no process, no socket.
      const probing = async (): Promise<void> => {
        while (!over()) await lan.probe(peer, ip, 100_000);
      };
      void probing();
      return Promise.resolve();
    },
    peerNeighbor: (ip) => Promise.resolve(peer.arp.get(ip) ?? null),
    traffic: async () => {
      icmp.send({ target: '198.18.0.20', identifier: icmp.newIdentifier(), sequence: 1 });
      await clock.runFor(10_000);
    },
    ownLink: (up) => Promise.resolve(ours.setCable(up)),
    linkEvents: () => events,
    sleep: (ms) => clock.runFor(ms * 1000),
    waitFor: (condition, ms, what) => virtualWaitFor(clock, condition, ms, what),
    dispose: () => Promise.resolve(nic.close()),
  };
}

async function nsHarness(): Promise<Harness> {
  const lan = await createVethLan(209);
  let ours: NsSession | null = null;
  const dispose = async (): Promise<void> => {
    await ours?.stop();
    await destroyVethLan(lan);
  };
  const ip = (ns: string, args: string[]): Promise<string> => run('ip', ['-n', ns, ...args]);
  try {
    ours = await NsSession.start(lan.a);
    await ours.ok('icmp.open');
    await ours.ok('nic.open', lan.ifA);
    await run('ip', ['netns', 'exec', lan.b, 'sysctl', '-q', '-w', `net.ipv4.conf.${lan.ifB}.arp_accept=1`]);
  } catch (error) {
    await dispose();
    throw error;
  }
  const session = ours;
  return {
    name: lan.ifA,
    mac: lan.macA,
    peerIp: lan.ipB,
    peerMac: lan.macB,
    free: `198.18.209.50/${lan.prefix}`,
    floating: `198.18.209.30/${lan.prefix}`,
    call: async (op, ...args) => {
      const answer = await session.call(`nic.${op}`, ...args);
      return answer.ok
        ? { value: answer.value }
        : { error: { name: answer.error?.name ?? '', message: answer.error?.message ?? '' } };
    },
    outside: async (add, address) => void (await ip(lan.a, ['address', add ? 'add' : 'del', address, 'dev', lan.ifA])),
    peerHolds: async (add, address) =>
      void (await ip(lan.b, ['address', add ? 'add' : 'del', address, 'dev', lan.ifB])),
    peerProbes: async (address, over) => {
      const target = address.split('/')[0] ?? address;
      // The tool exits non-zero when it hears the address used: expected here, not a failure.
      const probe = (): Promise<void> =>
        new Promise((resolve) => {
          execFile(
            'ip',
            ['netns', 'exec', lan.b, DEFAULT_ARP_TOOL, 'probe', lan.ifB, target, '100'],
            { timeout: 10_000 },
            () => resolve(),
          );
        });
      while (!over()) await probe();
    },
    peerNeighbor: async (address) => {
      const line = await ip(lan.b, ['neigh', 'show', address, 'dev', lan.ifB]);
      return /lladdr ([0-9a-f:]{17})/i.exec(line)?.[1]?.toLowerCase() ?? null;
    },
    traffic: async () => {
      await ip(lan.a, ['neigh', 'flush', 'dev', lan.ifA]);
      await session.ok('icmp.send', lan.ipB, 0x4e09, 1);
      await session.waitEvent((e) => Reflect.get(Object(e['reply']), 'identifier') === 0x4e09, 2000, 'echo reply');
    },
    ownLink: async (up) => void (await ip(lan.a, ['link', 'set', lan.ifA, up ? 'up' : 'down'])),
    linkEvents: () => session.events.filter((e) => e.event === 'link').map((e) => e['up'] === true),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    waitFor: (condition, ms, what) => waitFor(condition, ms, what),
    dispose,
  };
}

const subjects: Array<{ name: string; unavailable: string | null; open: () => Promise<Harness> }> = [
  { name: 'SimNic on the simulated LAN', unavailable: null, open: () => Promise.resolve(simHarness()) },
  { name: 'LinuxNic (netns)', unavailable: netnsUnavailable(), open: nsHarness },
];

function valueOf(answer: { value: unknown } | { error: { name: string; message: string } }): unknown {
  if ('error' in answer) throw new Error(`${answer.error.name}: ${answer.error.message}`);
  return answer.value;
}

/** Not taken, not contended, no evidence. */
function free(report: ConflictReport): boolean {
  return !report.taken && report.contended !== true && report.evidence.length === 0;
}

for (const subject of subjects) {
  describeIfAvailable(`hal/nic contract: ${subject.name}`, subject.unavailable, function () {
    this.timeout(30_000);
    let h: Harness;
    const ok = async (op: NicOp, ...args: unknown[]): Promise<unknown> => valueOf(await h.call(op, ...args));
    /** Runs `check` while the peer probes for `address`, and stops the peer after it. */
    const whilePeerProbes = async (address: string, check: () => Promise<unknown>): Promise<ConflictReport> => {
      let over = false;
      const probing = h.peerProbes(address, () => over);
      try {
        return (await check()) as ConflictReport;
      } finally {
        over = true;
        await probing;
      }
    };

    before(async () => {
      h = await subject.open();
    });

    after(async () => {
      await h?.dispose();
    });

    it('assign and release are idempotent, and holds reports the real state', async () => {
      expect(await ok('holds', h.floating)).to.equal(false);
      await ok('assign', h.floating);
      await ok('assign', h.floating);
      expect(await ok('holds', h.floating)).to.equal(true);
      expect(await ok('holds', h.floating.split('/')[0])).to.equal(true);
      await ok('release', h.floating);
      await ok('release', h.floating);
      expect(await ok('holds', h.floating)).to.equal(false);
      // Not what this driver did: what the interface holds.
      await h.outside(true, h.floating);
      expect(await ok('holds', h.floating)).to.equal(true);
      await h.outside(false, h.floating);
      expect(await ok('holds', h.floating)).to.equal(false);
    });

    it('rejects bad addresses with NicError naming the interface and the address', async () => {
      for (const [op, address] of [
        ['assign', '198.18.202.300/24'],
        ['assign', '198.18.202.30'],
        ['release', 'eth0'],
        ['holds', '198.18.202.30/24\naddress flush dev lo'],
        ['detectConflict', 'nowhere'],
      ] as const) {
        const answer = await h.call(op, address, ...(op === 'detectConflict' ? [100] : []));
        if (!('error' in answer)) throw new Error(`${op} ${JSON.stringify(address)} was accepted`);
        expect(answer.error.name, `${op} ${address}`).to.equal('NicError');
        expect(answer.error.message).to.include(h.name).and.include(address);
      }
      const announce = await h.call('announce', h.free, 1, 0);
      expect('error' in announce && announce.error.name).to.equal('NicError');
      expect('error' in announce && announce.error.message).to.include('not held');
    });

    it('announce updates the peer’s ARP cache to this MAC', async () => {
      await ok('assign', h.floating);
      try {
        await ok('announce', h.floating, 2, 10);
        const ip = h.floating.split('/')[0] ?? '';
        let seen = await h.peerNeighbor(ip);
        for (let i = 0; i < 100 && seen !== h.mac; i += 1) {
          await h.sleep(20);
          seen = await h.peerNeighbor(ip);
        }
        expect(seen).to.equal(h.mac);
      } finally {
        await ok('release', h.floating);
      }
    });

    it('detectConflict: the peer’s address is taken, with the peer’s ARP reply as evidence', async () => {
      const report = (await ok('detectConflict', `${h.peerIp}/24`, 300)) as ConflictReport;
      expect(report.taken).to.equal(true);
      expect(report.evidence).to.include(`arp-reply ${h.peerMac}`);
    });

    it('detectConflict: a free address is not taken', async () => {
      expect(free((await ok('detectConflict', h.free, 300)) as ConflictReport)).to.equal(true);
    });

    it('detectConflict: an address only this server holds is not taken', async () => {
      await ok('assign', h.floating);
      try {
        expect(free((await ok('detectConflict', h.floating, 300)) as ConflictReport)).to.equal(true);
      } finally {
        await ok('release', h.floating);
      }
    });

    it('detectConflict: a free address another host probes for is contended (RFC 5227 simultaneous probe)', async () => {
      const report = await whilePeerProbes(h.free, () => ok('detectConflict', h.free, 300));
      expect(report.taken).to.equal(true);
      expect(report.contended).to.equal(true);
      expect(report.evidence).to.include(`arp-probe ${h.peerMac}`);
    });

    it('detectConflict: an address this server holds, while another host probes for it, is not taken (our kernel answers the prober)', async () => {
      // A server restarted with the address still in its kernel checks it while the monitor's
      // confirmation watch probes it: it must not back off from those probes for ever.
      await ok('assign', h.floating);
      try {
        const report = await whilePeerProbes(h.floating, () => ok('detectConflict', h.floating, 300));
        expect(report.evidence, 'the probe was heard').to.include(`arp-probe ${h.peerMac}`);
        expect(report.taken).to.equal(false);
        expect(report.contended).to.not.equal(true);
      } finally {
        await ok('release', h.floating);
      }
    });

    it('detectConflict: an address both hold is taken (the peer’s ARP reply)', async () => {
      await ok('assign', h.floating);
      await h.peerHolds(true, h.floating);
      try {
        const report = (await ok('detectConflict', h.floating, 300)) as ConflictReport;
        expect(report.taken).to.equal(true);
        expect(report.evidence).to.include(`arp-reply ${h.peerMac}`);
      } finally {
        await h.peerHolds(false, h.floating);
        await ok('release', h.floating);
      }
    });

    it('neighborMac: null for an unknown address, the peer’s MAC after traffic', async () => {
      expect(await ok('neighborMac', h.free)).to.equal(null);
      await h.traffic();
      expect(await ok('neighborMac', `${h.peerIp}/24`)).to.equal(h.peerMac);
    });

    it('setNeighbor: points the entry at the given MAC and back (a forged reply undone)', async () => {
      await h.traffic();
      const forged = '00:00:5e:00:01:07';
      await ok('setNeighbor', `${h.peerIp}/24`, forged.toUpperCase());
      expect(await ok('neighborMac', h.peerIp)).to.equal(forged);
      await ok('setNeighbor', h.peerIp, h.peerMac);
      expect(await ok('neighborMac', h.peerIp)).to.equal(h.peerMac);
    });

    it('setNeighbor: a malformed MAC or address is refused, naming the operation', async () => {
      const bad = (await h.call('setNeighbor', h.peerIp, '00:00:5e:00:01')) as { error?: { message: string } };
      expect(bad.error?.message ?? '').to.match(/set-neighbor/);
      const badIp = (await h.call('setNeighbor', 'not-an-ip', h.peerMac)) as { error?: { message: string } };
      expect(badIp.error?.message ?? '').to.match(/set-neighbor/);
    });

    it('reports own link changes once each; while down, every address counts as taken', async () => {
      expect(await ok('linkUp')).to.equal(true);
      const before = h.linkEvents().length;
      await h.ownLink(false);
      await h.waitFor(() => h.linkEvents().length > before, 5000, 'link down event');
      expect(await ok('linkUp')).to.equal(false);
      expect(await ok('detectConflict', h.free, 100)).to.deep.equal({ taken: true, evidence: ['own link down'] });
      await h.ownLink(true);
      await h.waitFor(() => h.linkEvents().length > before + 1, 5000, 'link up event');
      expect(h.linkEvents().slice(before)).to.deep.equal([false, true]);
      expect(await ok('linkUp')).to.equal(true);
    });
  });
}
