import { describeIfAvailable, itIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { internetChecksum } from '../../../hal/icmp/packet.js';
import { strayReply } from './fixtures/echo-bytes.js';
import { createVethLan, destroyVethLan, netnsUnavailable, type VethLan } from './fixtures/netns.js';
import { NsSession, type SessionEvent } from './fixtures/ns-client.js';
import { onPath, run } from '../../fixtures/processes.js';

const unavailable = netnsUnavailable();

interface Reply {
  from: string;
  identifier: number;
  sequence: number;
  receivedUs: number;
}

function replyOf(event: SessionEvent): Reply | null {
  const reply: unknown = event['reply'];
  if (event.event !== 'reply' || typeof reply !== 'object' || reply === null) {
    return null;
  }
  const from: unknown = Reflect.get(reply, 'from');
  const identifier: unknown = Reflect.get(reply, 'identifier');
  const sequence: unknown = Reflect.get(reply, 'sequence');
  const receivedUs: unknown = Reflect.get(reply, 'receivedUs');
  if (
    typeof from !== 'string' ||
    typeof identifier !== 'number' ||
    typeof sequence !== 'number' ||
    typeof receivedUs !== 'number'
  ) {
    return null;
  }
  return { from, identifier, sequence, receivedUs };
}

function replies(session: NsSession): Reply[] {
  return session.events.map(replyOf).filter((r): r is Reply => r !== null);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeIfAvailable('hal/icmp/linux RawIcmpEcho in a network namespace', unavailable, function () {
  this.timeout(30_000);
  let lan: VethLan | null = null;
  let ours: NsSession | null = null;
  let peer: NsSession | null = null;

  before(async () => {
    lan = await createVethLan(201);
    ours = await NsSession.start(lan.a);
    peer = await NsSession.start(lan.b);
    await ours.ok('icmp.open');
    await peer.ok('icmp.open');
  });

  after(async () => {
    await ours?.stop();
    await peer?.stop();
    await destroyVethLan(lan);
  });

  function setup(): { lan: VethLan; ours: NsSession; peer: NsSession } {
    if (lan === null || ours === null || peer === null) {
      throw new Error('setup failed');
    }
    return { lan, ours, peer };
  }

  it('gets an echo reply from the peer, timestamped on our clock (RTT in µs)', async () => {
    const { lan, ours } = setup();
    const rtts: number[] = [];
    const directBefore = Number((await ours.ok('icmp.direct')).value);
    for (let sequence = 1; sequence <= 20; sequence += 1) {
      const sent = await ours.ok('icmp.send', lan.ipB, 0x4801, sequence);
      const event = await ours.waitEvent(
        (e) => replyOf(e)?.identifier === 0x4801 && replyOf(e)?.sequence === sequence,
        2000,
        `reply ${sequence}`,
      );
      const reply = replyOf(event);
      expect(reply?.from).to.equal(lan.ipB);
      const rtt = (reply?.receivedUs ?? 0) - Number(sent.value);
      expect(rtt).to.be.within(0, 100_000);
      rtts.push(rtt);
    }
    // Every request left at once with sendto(2), none through raw-socket's poll queue.
    expect(Number((await ours.ok('icmp.direct')).value) - directBefore).to.equal(20);
    rtts.sort((x, y) => x - y);
    console.log(
      `      ICMP RTT on veth: median ${rtts[10]} µs, min ${rtts[0]} µs, max ${rtts[19]} µs (send call to receive timestamp)`,
    );
  });

  it('gets no reply from a silent address, and send does not throw', async () => {
    const { ours } = setup();
    await ours.ok('icmp.send', '198.18.201.99', 0x4802, 1);
    await ours.ok('icmp.send', '198.18.201.99', 0x4802, 2);
    await sleep(800);
    expect(replies(ours).filter((r) => r.identifier === 0x4802)).to.deep.equal([]);
  });

  it('delivers a stranger’s well-formed echo reply, drops malformed ICMP, and keeps working', async () => {
    const { lan, ours, peer } = setup();
    const badChecksum = strayReply(0x4803, 2);
    badChecksum.writeUInt16BE(badChecksum.readUInt16BE(2) ^ 0xff, 2);
    const wrongType = strayReply(0x4803, 3);
    wrongType.writeUInt8(3, 0);
    wrongType.writeUInt16BE(0, 2);
    wrongType.writeUInt16BE(internetChecksum(wrongType), 2);
    const wrongCode = strayReply(0x4803, 4);
    wrongCode.writeUInt8(5, 1);
    wrongCode.writeUInt16BE(0, 2);
    wrongCode.writeUInt16BE(internetChecksum(wrongCode), 2);
    // Linux raw ICMP sockets need at least 2 bytes (type and code) to send.
    const garbage: Buffer[] = [
      Buffer.from([0, 0]),
      Buffer.from([0, 0, 0]),
      strayReply(0x4803, 5).subarray(0, 7),
      badChecksum,
      wrongType,
      wrongCode,
    ];
    for (let i = 0; i < 50; i += 1) {
      const random = Buffer.alloc(2 + (i % 40));
      for (let j = 0; j < random.length; j += 1) {
        random[j] = Math.floor(Math.random() * 256);
      }
      random[0] = 0;
      random[1] = 0;
      garbage.push(random);
    }
    for (const bytes of garbage) {
      await peer.ok('stray.send', lan.ipA, bytes.toString('hex'));
    }
    await peer.ok('stray.send', lan.ipA, strayReply(0x4803, 1).toString('hex'));
    await ours.waitEvent((e) => replyOf(e)?.identifier === 0x4803, 2000, 'the stranger’s valid reply');
    await sleep(200);
    const strangers = replies(ours).filter((r) => r.from === lan.ipB && r.identifier === 0x4803);
    expect(strangers.map((r) => r.sequence)).to.deep.equal([1]);
    await ours.ok('icmp.send', lan.ipB, 0x4804, 1);
    await ours.waitEvent((e) => replyOf(e)?.identifier === 0x4804, 2000, 'reply after the garbage');
  });

  it('sends from a given source address (IP_HDRINCL)', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open', lan.ipA);
      await session.ok('icmp.send', lan.ipB, 0x4805, 1);
      const event = await session.waitEvent(
        (e) => replyOf(e)?.identifier === 0x4805,
        2000,
        'reply to a source-addressed echo',
      );
      expect(replyOf(event)?.from).to.equal(lan.ipB);
    } finally {
      await session.stop();
    }
  });

  it('stops reading once no request awaits a reply, and the next send resumes it', async () => {
    const { lan, peer } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      await session.ok('icmp.send', lan.ipB, 0x4806, 1, 200_000);
      await session.waitEvent((e) => replyOf(e)?.identifier === 0x4806, 2000, 'the reply');
      await sleep(300);
      // The first stranger after the quiet spell is still read, and reading pauses.
      await peer.ok('stray.send', lan.ipA, strayReply(0x4807, 1).toString('hex'));
      await session.waitEvent((e) => replyOf(e)?.identifier === 0x4807, 2000, 'the first stranger');
      expect((await session.ok('icmp.pauses')).value).to.equal(1);
      await peer.ok('stray.send', lan.ipA, strayReply(0x4807, 2).toString('hex'));
      await sleep(200);
      expect(
        replies(session)
          .filter((r) => r.identifier === 0x4807)
          .map((r) => r.sequence),
      ).to.deep.equal([1]);
      // A send resumes reading: its reply comes, and what queued meanwhile is read too.
      await session.ok('icmp.send', lan.ipB, 0x4806, 2, 200_000);
      await session.waitEvent(
        (e) => replyOf(e)?.identifier === 0x4806 && replyOf(e)?.sequence === 2,
        2000,
        'the reply after resuming',
      );
      await session.waitEvent(
        (e) => replyOf(e)?.identifier === 0x4807 && replyOf(e)?.sequence === 2,
        2000,
        'the queued stranger',
      );
    } finally {
      await session.stop();
    }
  });

  it('throws IcmpError after close', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      await session.ok('icmp.close');
      const answer = await session.call('icmp.send', lan.ipB, 1, 1);
      expect(answer.error?.name).to.equal('IcmpError');
    } finally {
      await session.stop();
    }
  });

  itIfAvailable(
    'says root or CAP_NET_RAW is needed when the socket is refused',
    onPath('setpriv') ? null : 'setpriv not installed',
    async () => {
      const { lan } = setup();
      const probe = `
      import('${new URL('../../../hal/icmp/linux.js', import.meta.url).href}').then(async ({ RawIcmpEcho }) => {
        const { MonotonicClock } = await import('${new URL('../../../hal/clock/monotonic.js', import.meta.url).href}');
        try { RawIcmpEcho.open(new MonotonicClock()); console.log('opened'); }
        catch (error) { console.log(JSON.stringify({ name: error.name, message: error.message })); }
      });`;
      const output = await run('ip', [
        'netns',
        'exec',
        lan.a,
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        process.execPath,
        '--input-type=module',
        '-e',
        probe,
      ]);
      const result: unknown = JSON.parse(output.trim());
      expect(Reflect.get(Object(result), 'name')).to.equal('IcmpError');
      expect(String(Reflect.get(Object(result), 'message'))).to.match(/root or CAP_NET_RAW/);
    },
  );
});
