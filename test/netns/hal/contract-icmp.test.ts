/**
 * One IcmpEcho contract (hal/icmp/index.ts), every driver: the simulated one on a simulated
 * LAN in virtual time, and the raw socket in a network namespace probing the other end of a
 * veth LAN.
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import type { EchoReply } from '../../../hal/icmp/index.js';
import { SimIcmpEcho } from '../../../hal/icmp/sim.js';
import { SimLan } from '../../../hal/sim/lan.js';
import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { virtualWaitFor } from '../../fixtures/virtual-time.js';
import { strayReply } from './fixtures/echo-bytes.js';
import { createVethLan, destroyVethLan, netnsUnavailable } from './fixtures/netns.js';
import { NsSession } from './fixtures/ns-client.js';
import { waitFor } from '../../fixtures/processes.js';

/** What the contract needs of a driver and the LAN around it. */
interface Harness {
  peer: string;
  nobody: string;
  /** Sends an echo request; answers the clock's time at the send, or the error it threw. */
  send(target: string, identifier: number, sequence: number): Promise<{ sentUs: number } | { error: string }>;
  replies(): EchoReply[];
  newIdentifier(): Promise<number>;
  /** A well-formed echo reply from the peer, as if to someone else's request. */
  stray(identifier: number, sequence: number): Promise<void>;
  closeSocket(): Promise<void>;
  sleep(ms: number): Promise<void>;
  waitFor(condition: () => boolean, ms: number, what: string): Promise<void>;
  dispose(): Promise<void>;
}

function simHarness(): Harness {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 50);
  const ours = lan.addHost('ours', '02:00:00:00:00:01');
  const peer = lan.addHost('peer', '02:00:00:00:00:02');
  peer.addresses.set('198.18.0.20', 0);
  const icmp = new SimIcmpEcho(lan, ours);
  const got: EchoReply[] = [];
  icmp.onReply((reply) => got.push(reply));
  return {
    peer: '198.18.0.20',
    nobody: '198.18.0.99',
    send: (target, identifier, sequence) => {
      try {
        const sentUs = clock.nowUs();
        icmp.send({ target, identifier, sequence });
        return Promise.resolve({ sentUs });
      } catch (error) {
        return Promise.resolve({ error: error instanceof Error ? error.name : String(error) });
      }
    },
    replies: () => got,
    newIdentifier: () => Promise.resolve(icmp.newIdentifier()),
    stray: (identifier, sequence) => {
      icmp.inject({ from: '198.18.0.20', identifier, sequence, receivedUs: clock.nowUs() });
      return Promise.resolve();
    },
    closeSocket: () => Promise.resolve(icmp.close()),
    sleep: (ms) => clock.runFor(ms * 1000),
    waitFor: (condition, ms, what) => virtualWaitFor(clock, condition, ms, what),
    dispose: () => Promise.resolve(),
  };
}

async function nsHarness(): Promise<Harness> {
  const lan = await createVethLan(208);
  let ours: NsSession | null = null;
  let other: NsSession | null = null;
  const dispose = async (): Promise<void> => {
    await ours?.stop();
    await other?.stop();
    await destroyVethLan(lan);
  };
  try {
    ours = await NsSession.start(lan.a);
    other = await NsSession.start(lan.b);
    await ours.ok('icmp.open');
  } catch (error) {
    await dispose();
    throw error;
  }
  const session = ours;
  const peer = other;
  return {
    peer: lan.ipB,
    nobody: '198.18.208.99',
    send: async (target, identifier, sequence) => {
      const answer = await session.call('icmp.send', target, identifier, sequence);
      return answer.ok ? { sentUs: Number(answer.value) } : { error: answer.error?.name ?? 'error' };
    },
    replies: () => session.events.filter((e) => e.event === 'reply').map((e) => e['reply'] as EchoReply),
    newIdentifier: async () => Number((await session.ok('icmp.newIdentifier')).value),
    stray: async (identifier, sequence) => {
      const packet = strayReply(identifier, sequence);
      await peer.ok('stray.send', lan.ipA, packet.toString('hex'));
    },
    closeSocket: async () => void (await session.ok('icmp.close')),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    waitFor: (condition, ms, what) => waitFor(condition, ms, what),
    dispose,
  };
}

const subjects: Array<{ name: string; unavailable: string | null; open: () => Promise<Harness> }> = [
  { name: 'SimIcmpEcho on the simulated LAN', unavailable: null, open: () => Promise.resolve(simHarness()) },
  { name: 'RawIcmpEcho (netns)', unavailable: netnsUnavailable(), open: nsHarness },
];

for (const subject of subjects) {
  describeIfAvailable(`hal/icmp contract: ${subject.name}`, subject.unavailable, function () {
    this.timeout(30_000);
    let h: Harness;

    beforeEach(async () => {
      h = await subject.open();
    });

    afterEach(async () => {
      await h?.dispose();
    });

    it('an echo to a live host is answered with its identifier and sequence, on the same clock', async () => {
      const identifier = await h.newIdentifier();
      const sent = await h.send(h.peer, identifier, 7);
      if (!('sentUs' in sent)) throw new Error(`send failed: ${sent.error}`);
      await h.waitFor(() => h.replies().some((r) => r.identifier === identifier), 2000, 'the reply');
      const reply = h.replies().find((r) => r.identifier === identifier);
      expect(reply).to.include({ from: h.peer, identifier, sequence: 7 });
      expect(reply?.receivedUs).to.be.at.least(sent.sentUs);
    });

    it('an echo to an address nobody holds: send does not throw, and no reply comes', async () => {
      const identifier = await h.newIdentifier();
      expect(await h.send(h.nobody, identifier, 1)).to.have.property('sentUs');
      await h.sleep(300);
      expect(h.replies().filter((r) => r.identifier === identifier)).to.deep.equal([]);
    });

    it('delivers replies with another conversation’s identifier too: matching is the caller’s job', async () => {
      const identifier = await h.newIdentifier();
      // A request of ours first: a driver may stop reading once no request awaits a reply.
      await h.send(h.nobody, identifier, 1);
      await h.stray(identifier ^ 0x0100, 3);
      await h.waitFor(() => h.replies().some((r) => r.identifier === (identifier ^ 0x0100)), 2000, 'the stray');
      expect(h.replies().find((r) => r.identifier === (identifier ^ 0x0100))).to.include({ from: h.peer, sequence: 3 });
    });

    it('hands out identifiers no two conversations share, in 1..65535', async () => {
      const taken: number[] = [];
      for (let i = 0; i < 100; i += 1) taken.push(await h.newIdentifier());
      expect(new Set(taken).size).to.equal(100);
      expect(taken.every((id) => Number.isInteger(id) && id >= 1 && id <= 0xffff)).to.equal(true);
    });

    it('after close: send throws IcmpError, and no reply is delivered', async () => {
      const identifier = await h.newIdentifier();
      await h.closeSocket();
      expect(await h.send(h.peer, identifier, 1)).to.deep.equal({ error: 'IcmpError' });
      await h.stray(identifier, 2);
      await h.sleep(200);
      expect(h.replies().filter((r) => r.identifier === identifier)).to.deep.equal([]);
    });
  });
}
