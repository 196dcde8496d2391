/**
 * One Prober contract, every engine: the native thread (prober.c) and the event-loop engine
 * on Linux ICMP, each in a network namespace probing the other end of a veth LAN, and the
 * event-loop engine on the simulated LAN in virtual time. The same tests, the same numbers.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { VirtualClock } from '../../../hal/clock/sim.js';
import { SimIcmpEcho } from '../../../hal/icmp/sim.js';
import { EchoChannels } from '../../../hal/prober/echo-channel.js';
import { EventLoopProber } from '../../../hal/prober/event-loop.js';
import type { ProbeRun, ProbeStats } from '../../../hal/prober/index.js';
import { DEFAULT_PROBER_ADDON } from '../../../hal/prober/native.js';
import { SimLan } from '../../../hal/sim/lan.js';
import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { virtualWaitFor } from '../../fixtures/virtual-time.js';
import { strayReply } from './fixtures/echo-bytes.js';
import { createVethLan, destroyVethLan, netnsUnavailable, type VethLan } from './fixtures/netns.js';
import { NsSession } from './fixtures/ns-client.js';
import { run, waitFor } from '../../fixtures/processes.js';

interface Batch {
  answered: number;
  lastReplyUs: number | null;
  missed: number | null;
  lateUs: readonly number[];
  dropped: number;
}

interface RunOptions {
  intervalUs: number;
  timeoutUs: number;
  batch: number;
}

/** What the contract needs of an engine and the LAN around it. */
interface Harness {
  /** Starts a run probing the live peer, or an address nobody holds; answers its identifier. */
  start(target: 'peer' | 'nobody', options: RunOptions): Promise<number>;
  /** Batches of the current run, in order. */
  batches(): Batch[];
  stats(): Promise<ProbeStats>;
  stop(): Promise<ProbeStats>;
  /** The peer stops (or starts again) answering echo requests. */
  peerSilent(silent: boolean): Promise<void>;
  /** Well-formed echo replies from the peer with this identifier and these sequences. */
  stray(identifier: number, sequences: readonly number[]): Promise<void>;
  /** Real or virtual milliseconds. */
  sleep(ms: number): Promise<void>;
  waitFor(condition: () => boolean, ms: number, what: string): Promise<void>;
  close(): Promise<void>;
}

interface Subject {
  name: string;
  unavailable: string | null;
  open(): Promise<Harness>;
}

const PEER = '198.18.0.20';

/** The event-loop engine on the simulated LAN: virtual time, advanced by the harness. */
function simHarness(): Harness {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 50);
  const ours = lan.addHost('ours', '02:00:00:00:00:01');
  const peer = lan.addHost('peer', '02:00:00:00:00:02');
  peer.addresses.set(PEER, 0);
  const icmp = new SimIcmpEcho(lan, ours);
  const prober = new EventLoopProber(clock, new EchoChannels(icmp));
  let current: ProbeRun | null = null;
  let got: Batch[] = [];
  const sleep = (ms: number): Promise<void> => clock.runFor(ms * 1000);
  return {
    start: (target, options) => {
      current?.stop();
      got = [];
      current = prober.start(
        { target: target === 'peer' ? PEER : '198.18.0.99', startUs: clock.nowUs() + 1000, ...options },
        (batch) => got.push(batch),
        () => undefined,
      );
      // The run's identifier, as its first probe carried it.
      return sleep(2).then(() => icmp.sentRequests.at(-1)?.identifier ?? -1);
    },
    batches: () => got,
    stats: () => Promise.resolve(current?.stats() ?? { sent: 0, answered: 0, missed: 0, dropped: 0 }),
    stop: () => {
      const stats = current?.stats() ?? { sent: 0, answered: 0, missed: 0, dropped: 0 };
      current?.stop();
      current?.stop();
      return Promise.resolve(stats);
    },
    peerSilent: (silent) => {
      peer.silent = silent;
      return Promise.resolve();
    },
    stray: (identifier, sequences) => {
      for (const sequence of sequences) icmp.inject({ from: PEER, identifier, sequence, receivedUs: clock.nowUs() });
      return Promise.resolve();
    },
    sleep,
    waitFor: (condition, ms, what) => virtualWaitFor(clock, condition, ms, what),
    close: () => {
      current?.stop();
      return Promise.resolve();
    },
  };
}

/** An engine in a namespace of a veth LAN, probing the other end. */
async function nsHarness(engine: 'native' | 'event-loop', index: number): Promise<Harness> {
  const lan: VethLan = await createVethLan(index);
  let ours: NsSession | null = null;
  let peer: NsSession | null = null;
  const close = async (): Promise<void> => {
    await ours?.stop();
    await peer?.stop();
    await destroyVethLan(lan);
  };
  try {
    ours = await NsSession.start(lan.a);
    peer = await NsSession.start(lan.b);
  } catch (error) {
    await close();
    throw error;
  }
  const session = ours;
  const other = peer;
  let from = 0;
  const silent = (on: boolean): Promise<string> =>
    run('ip', ['netns', 'exec', lan.b, 'sysctl', '-q', '-w', `net.ipv4.icmp_echo_ignore_all=${on ? 1 : 0}`]);
  return {
    start: async (target, options) => {
      from = session.events.length;
      const started = await session.ok(
        'prober.start',
        engine,
        target === 'peer' ? lan.ipB : `198.18.${index}.99`,
        options.intervalUs,
        options.timeoutUs,
        options.batch,
      );
      return Number(Reflect.get(Object(started.value), 'identifier'));
    },
    batches: () =>
      session.events
        .slice(from)
        .filter((e) => e.event === 'batch')
        .map((e) => e['batch'] as Batch),
    stats: async () => (await session.ok('prober.stats')).value as ProbeStats,
    stop: async () => (await session.ok('prober.stop')).value as ProbeStats,
    peerSilent: async (on) => void (await silent(on)),
    stray: async (identifier, sequences) => {
      for (const sequence of sequences) {
        const packet = strayReply(identifier, sequence);
        await other.ok('stray.send', lan.ipA, packet.toString('hex'));
      }
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    waitFor: (condition, ms, what) => waitFor(condition, ms, what),
    close: async () => {
      await silent(false).catch(() => undefined);
      await close();
    },
  };
}

const netns = netnsUnavailable();
const subjects: Subject[] = [
  { name: 'event-loop engine on the simulated LAN', unavailable: null, open: () => Promise.resolve(simHarness()) },
  { name: 'event-loop engine on Linux ICMP (netns)', unavailable: netns, open: () => nsHarness('event-loop', 206) },
  {
    name: 'native thread (netns)',
    unavailable: netns ?? (existsSync(DEFAULT_PROBER_ADDON) ? null : `${DEFAULT_PROBER_ADDON} not built`),
    open: () => nsHarness('native', 207),
  },
];

const sum = (batches: Batch[], pick: (b: Batch) => number): number => batches.reduce((n, b) => n + pick(b), 0);

for (const subject of subjects) {
  describeIfAvailable(`hal/prober contract: ${subject.name}`, subject.unavailable, function () {
    this.timeout(30_000);
    let h: Harness;

    before(async () => {
      h = await subject.open();
    });

    after(async () => {
      await h?.close();
    });

    afterEach(async () => {
      await h.stop();
      await h.peerSilent(false);
    });

    it('counts the answers of a live peer and hands them over in batches, one late value per probe', async () => {
      // A 100 ms timeout: a loaded machine must not turn a late answer into a miss here.
      await h.start('peer', { intervalUs: 10_000, timeoutUs: 100_000, batch: 20 });
      await h.waitFor(() => h.batches().some((b) => b.answered > 0), 5000, 'a batch');
      await h.sleep(1000);
      const stats = await h.stop();
      const got = h.batches();
      expect(stats.missed).to.equal(0);
      expect(got.filter((b) => b.missed !== null)).to.deep.equal([]);
      // The first answer comes alone (the holder is learned at once); then every batch is
      // full: 20 answers each (the rest were counted, not yet handed over).
      expect(got[0]?.answered).to.equal(1);
      expect(got.slice(1).every((b) => b.answered === 20)).to.equal(true);
      // Not yet handed over at stop: the answers counted since the last batch (< 20), and at
      // most one batch posted by a thread but not yet run on the event loop (20).
      expect(sum(got, (b) => b.answered))
        .to.be.at.most(stats.answered)
        .and.above(stats.answered - 40);
      expect(stats.sent).to.be.above(60);
      expect(sum(got, (b) => b.lateUs.length))
        .to.be.at.most(stats.sent)
        .and.above(stats.sent - 41);
      expect(got.every((b) => b.lastReplyUs !== null && b.lateUs.every((l) => l >= 0))).to.equal(true);
    });

    it('hands over each miss at once, in sequence order, and the first answer after them at once', async () => {
      await h.peerSilent(true);
      await h.start('peer', { intervalUs: 10_000, timeoutUs: 10_000, batch: 50 });
      await h.waitFor(() => h.batches().filter((b) => b.missed !== null).length >= 5, 5000, 'five misses');
      expect(
        h
          .batches()
          .map((b) => b.missed)
          .slice(0, 5),
      ).to.deep.equal([1, 2, 3, 4, 5]);
      // Let it answer again: the first answer is handed over alone, not after 50 more.
      const answersFrom = h.batches().length;
      await h.peerSilent(false);
      await h.waitFor(
        () => h.batches().some((b, i) => i >= answersFrom && b.answered > 0),
        3000,
        'the first answer after the misses',
      );
      const first = h.batches().find((b, i) => i >= answersFrom && b.answered > 0);
      expect(first?.answered).to.equal(1);
      expect(first?.missed).to.equal(null);
    });

    it('an address nobody holds: only misses, one per probe, sequences counting from 1', async () => {
      await h.start('nobody', { intervalUs: 10_000, timeoutUs: 10_000, batch: 10 });
      await h.waitFor(() => h.batches().filter((b) => b.missed !== null).length >= 10, 5000, 'ten misses');
      const stats = await h.stop();
      const got = h.batches();
      expect(stats.answered).to.equal(0);
      expect(got.every((b) => b.answered === 0)).to.equal(true);
      const missed = got.map((b) => b.missed).filter((m): m is number => m !== null);
      expect(missed).to.deep.equal(Array.from({ length: missed.length }, (_, i) => i + 1));
    });

    it('drops its own identifier’s answers to no outstanding probe, never hears other identifiers', async () => {
      const identifier = await h.start('peer', { intervalUs: 10_000, timeoutUs: 100_000, batch: 10 });
      await h.stray(identifier, [60_001, 60_002]);
      // Someone else's echo replies: another conversation's, not this run's business.
      await h.stray(identifier ^ 0x0100, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await h.sleep(400);
      const stats = await h.stop();
      // The two unknown sequences, and any real answer that came after its timeout.
      expect(stats.dropped)
        .to.be.at.least(2)
        .and.at.most(2 + stats.missed);
      expect(stats.answered).to.be.above(20);
      expect(sum(h.batches(), (b) => b.answered)).to.be.above(10);
    });

    it('each run is a conversation of its own: the answers of an earlier run never count', async () => {
      const first = await h.start('peer', { intervalUs: 10_000, timeoutUs: 100_000, batch: 10 });
      await h.stop();
      await h.peerSilent(true);
      const second = await h.start('peer', { intervalUs: 10_000, timeoutUs: 100_000, batch: 10 });
      expect(second).to.not.equal(first);
      await h.sleep(30);
      // The earlier run's identifier with sequences the new run has outstanding.
      await h.stray(first, [1, 2, 3]);
      await h.sleep(50);
      const stats = await h.stats();
      expect(stats.answered).to.equal(0);
      expect(stats.dropped).to.equal(0);
    });

    it('stops for good: no batch after stop(), and stop() twice is harmless', async () => {
      await h.start('peer', { intervalUs: 5_000, timeoutUs: 10_000, batch: 1 });
      await h.sleep(200);
      await h.stop();
      await h.sleep(50);
      const after = h.batches().length;
      await h.sleep(300);
      expect(h.batches().length).to.equal(after);
      await h.stop();
    });
  });
}
