/**
 * What only the native probe thread (hal/prober/prober.c through NativeProber) does, on a real
 * veth LAN between two network namespaces: its own checks of malformed packets, its SCHED_FIFO
 * priority, bad options refused by name. The Prober contract is in contract-prober.test.ts.
 */
import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { DEFAULT_PROBER_ADDON } from '../../../hal/prober/native.js';
import { strayReply } from './fixtures/echo-bytes.js';
import { createVethLan, destroyVethLan, netnsUnavailable, type VethLan } from './fixtures/netns.js';
import { NsSession, type SessionEvent } from './fixtures/ns-client.js';
import { run } from '../../fixtures/processes.js';

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

describeIfAvailable('hal/prober/native NativeProber in a network namespace', unavailable, function () {
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

  it('drops strangers’ replies and malformed packets, and keeps counting', async () => {
    const { lan, ours, peer } = setup();
    const from = ours.events.length;
    const started = await ours.ok('prober.start', 'native', lan.ipB, 10_000, 100_000, 10);
    const runIdentifier = Number(Reflect.get(Object(started.value), 'identifier'));
    // Well-formed echo replies with our identifier but no outstanding sequence, and garbage.
    const reply = (sequence: number, checksumOk = true, identifier = runIdentifier): Buffer =>
      strayReply(identifier, sequence, checksumOk);
    for (const bytes of [reply(60_001), reply(60_002, false), Buffer.from([0, 0, 1]), reply(60_003).subarray(0, 6)]) {
      await peer.ok('stray.send', lan.ipA, bytes.toString('hex'));
    }
    // Someone else's echo replies (another identifier) never reach the thread: the socket's
    // BPF filter keeps them out in the kernel.
    for (let i = 0; i < 10; i += 1)
      await peer.ok('stray.send', lan.ipA, reply(1 + i, true, runIdentifier ^ 0x0100).toString('hex'));
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

  it('runs its thread SCHED_FIFO one above the agent’s real-time priority (clock.realtime)', async () => {
    const { lan, ours } = setup();
    expect((await ours.ok('threads.fifo')).value).to.deep.equal([]);
    await ours.ok('prober.start', 'native', lan.ipB, 10_000, 10_000, 10, 12);
    expect((await ours.ok('threads.fifo')).value).to.deep.equal([13]);
    await ours.ok('prober.stop');
    expect((await ours.ok('threads.fifo')).value).to.deep.equal([]);
  });

  it('refuses bad options with an IcmpError naming the option', async () => {
    const { ours } = setup();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ target: 'not-an-address' }, /options\.target/],
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
