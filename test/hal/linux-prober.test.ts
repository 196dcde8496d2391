/**
 * The native probe thread (hal/prober/prober.c through NativeProber) on a real veth LAN
 * between two network namespaces: answers batched, misses at once and in order, recovery
 * at once, strangers' packets dropped, stop final, bad options refused by name.
 */
import { describeIfAvailable } from '../fixtures/prerequisites.js';
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { DEFAULT_PROBER_ADDON } from '../../hal/prober/linux.js';
import { buildEchoRequest, internetChecksum } from '../../hal/icmp/packet.js';
import { createVethLan, destroyVethLan, netnsUnavailable, type VethLan } from './fixtures/netns.js';
import { NsSession, type SessionEvent } from './fixtures/ns-client.js';
import { run } from './fixtures/processes.js';

const unavailable = netnsUnavailable() ?? (existsSync(DEFAULT_PROBER_ADDON) ? null : 'prober addon not built');

interface Batch {
  answered: number;
  lastReplyUs: number | null;
  missed: number | null;
  lateUs: number[];
  dropped: number;
}

function batchOf(event: SessionEvent): Batch | null {
  return event.event === 'batch' ? (event['batch'] as Batch) : null;
}

function batches(session: NsSession, from = 0): Batch[] {
  return session.events
    .slice(from)
    .map(batchOf)
    .filter((b): b is Batch => b !== null);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeIfAvailable('hal/prober/linux NativeProber in a network namespace', unavailable, function () {
  this.timeout(30_000);
  let lan: VethLan | null = null;
  let ours: NsSession | null = null;
  let peer: NsSession | null = null;

  before(async () => {
    lan = await createVethLan(202);
    ours = await NsSession.start(lan.a);
    peer = await NsSession.start(lan.b);
  });

  after(async () => {
    await ours?.stop();
    await peer?.stop();
    await destroyVethLan(lan);
  });

  afterEach(async () => {
    await ours?.call('prober.stop');
    if (lan !== null)
      await run('ip', ['netns', 'exec', lan.b, 'sysctl', '-q', '-w', 'net.ipv4.icmp_echo_ignore_all=0']);
  });

  function setup(): { lan: VethLan; ours: NsSession; peer: NsSession } {
    if (lan === null || ours === null || peer === null) throw new Error('setup failed');
    return { lan, ours, peer };
  }

  it('counts the answers of a live peer and hands them over in batches, one late value per probe', async () => {
    const { lan, ours } = setup();
    const from = ours.events.length;
    // A 100 ms timeout: a loaded machine must not turn a late answer into a miss here.
    await ours.ok('prober.start', lan.ipB, 0x5101, 10_000, 100_000, 20);
    await ours.waitEvent((e) => ours.events.indexOf(e) >= from && (batchOf(e)?.answered ?? 0) > 0, 5000, 'a batch');
    await sleep(1000);
    const stats = (await ours.ok('prober.stop')).value as { sent: number; answered: number; missed: number };
    const got = batches(ours, from);
    const answered = got.reduce((n, b) => n + b.answered, 0);
    expect(stats.missed).to.equal(0);
    expect(got.filter((b) => b.missed !== null)).to.deep.equal([]);
    // The first answer comes alone (the holder is learned at once); then every batch is
    // full: 20 answers each (the rest were counted, not yet handed over).
    expect(got[0]?.answered).to.equal(1);
    expect(got.slice(1).every((b) => b.answered === 20)).to.equal(true);
    // Not yet handed over at stop: the answers counted since the last batch (< 20), and at
    // most one batch posted by the thread but not yet run on the event loop (20).
    expect(answered)
      .to.be.at.most(stats.answered)
      .and.above(stats.answered - 40);
    expect(stats.sent).to.be.above(60);
    expect(got.reduce((n, b) => n + b.lateUs.length, 0))
      .to.be.at.most(stats.sent)
      .and.above(stats.sent - 41);
    expect(got.every((b) => b.lastReplyUs !== null && b.lateUs.every((l) => l >= 0))).to.equal(true);
  });

  it('hands over each miss at once, in sequence order, and the first answer after them at once', async () => {
    const { lan, ours } = setup();
    const from = ours.events.length;
    await run('ip', ['netns', 'exec', lan.b, 'sysctl', '-q', '-w', 'net.ipv4.icmp_echo_ignore_all=1']);
    await ours.ok('prober.start', lan.ipB, 0x5102, 10_000, 10_000, 50);
    await ours.waitEvent((e) => ours.events.indexOf(e) >= from && (batchOf(e)?.missed ?? 0) >= 5, 5000, 'five misses');
    const misses = batches(ours, from).map((b) => b.missed);
    expect(misses.slice(0, 5)).to.deep.equal([1, 2, 3, 4, 5]);
    // Let it answer again: the first answer is handed over alone, not after 50 more.
    const answersFrom = ours.events.length;
    await run('ip', ['netns', 'exec', lan.b, 'sysctl', '-q', '-w', 'net.ipv4.icmp_echo_ignore_all=0']);
    const first = await ours.waitEvent(
      (e) => ours.events.indexOf(e) >= answersFrom && (batchOf(e)?.answered ?? 0) > 0,
      3000,
      'the first answer after the misses',
    );
    expect(batchOf(first)?.answered).to.equal(1);
    expect(batchOf(first)?.missed).to.equal(null);
  });

  it('a silent address: only misses, one per probe', async () => {
    const { ours } = setup();
    const from = ours.events.length;
    await ours.ok('prober.start', '198.18.202.99', 0x5103, 10_000, 10_000, 10);
    await ours.waitEvent((e) => ours.events.indexOf(e) >= from && (batchOf(e)?.missed ?? 0) >= 10, 5000, 'ten misses');
    const stats = (await ours.ok('prober.stop')).value as { sent: number; answered: number; missed: number };
    const got = batches(ours, from);
    expect(stats.answered).to.equal(0);
    expect(got.every((b) => b.answered === 0)).to.equal(true);
    const missed = got.map((b) => b.missed).filter((m): m is number => m !== null);
    expect(missed).to.deep.equal(Array.from({ length: missed.length }, (_, i) => i + 1));
  });

  it('drops strangers’ replies and malformed packets, and keeps counting', async () => {
    const { lan, ours, peer } = setup();
    const from = ours.events.length;
    await ours.ok('prober.start', lan.ipB, 0x5104, 10_000, 100_000, 10);
    // Well-formed echo replies with our identifier but no outstanding sequence, and garbage.
    const reply = (sequence: number, checksumOk = true, identifier = 0x5104): Buffer => {
      const packet = buildEchoRequest(identifier, sequence, Buffer.from('stranger'));
      packet.writeUInt8(0, 0);
      packet.writeUInt16BE(0, 2);
      packet.writeUInt16BE(internetChecksum(packet) ^ (checksumOk ? 0 : 0xff), 2);
      return packet;
    };
    for (const bytes of [reply(60_001), reply(60_002, false), Buffer.from([0, 0, 1]), reply(60_003).subarray(0, 6)]) {
      await peer.ok('stray.send', lan.ipA, bytes.toString('hex'));
    }
    // Someone else's echo replies (another identifier) never reach the thread: the socket's
    // BPF filter keeps them out in the kernel.
    for (let i = 0; i < 10; i += 1) await peer.ok('stray.send', lan.ipA, reply(1 + i, true, 0x5999).toString('hex'));
    await sleep(400);
    const stats = (await ours.ok('prober.stop')).value as {
      sent: number;
      answered: number;
      missed: number;
      dropped: number;
    };
    // Our identifier with an unknown sequence and the bad checksum pass the kernel's filters
    // and are dropped by the thread; ICMP shorter than its 8-byte header the kernel drops.
    expect(stats.dropped).to.be.within(2, 4);
    expect(stats.missed).to.equal(0);
    expect(stats.answered).to.be.above(20);
    expect(batches(ours, from).reduce((n, b) => n + b.answered, 0)).to.be.above(10);
  });

  it('stops for good: no batch after stop(), and stop() twice is harmless', async () => {
    const { lan, ours } = setup();
    await ours.ok('prober.start', lan.ipB, 0x5105, 5_000, 10_000, 1);
    await sleep(200);
    await ours.ok('prober.stop');
    await sleep(50);
    const after = ours.events.length;
    await sleep(300);
    expect(batches(ours, after)).to.deep.equal([]);
    expect((await ours.ok('prober.stats')).value).to.not.equal(undefined);
  });

  it('runs its thread SCHED_FIFO one above the agent’s real-time priority (clock.realtime)', async () => {
    const { lan, ours } = setup();
    expect((await ours.ok('threads.fifo')).value).to.deep.equal([]);
    await ours.ok('prober.start', lan.ipB, 0x5106, 10_000, 10_000, 10, 12);
    expect((await ours.ok('threads.fifo')).value).to.deep.equal([13]);
    await ours.ok('prober.stop');
    expect((await ours.ok('threads.fifo')).value).to.deep.equal([]);
  });

  it('refuses bad options with an IcmpError naming the option', async () => {
    const { ours } = setup();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ target: 'not-an-address' }, /options\.target/],
      [{ identifier: 70_000 }, /options\.identifier/],
      [{ batch: 0 }, /options\.batch/],
      [{ realtime: 100 }, /realtime must be an integer 0\.\.99/],
      [{ intervalUs: 1000, timeoutUs: 100_000 }, /at most 62 intervals/],
    ];
    for (const [overrides, pattern] of cases) {
      const answer = await ours.call('prober.bad', overrides);
      expect(answer.ok, JSON.stringify(overrides)).to.equal(false);
      expect(answer.error?.name).to.equal('IcmpError');
      expect(answer.error?.message).to.match(pattern);
    }
  });
});
