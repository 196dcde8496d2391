/**
 * The bench's and the fault campaign's user-space impairing switch (scripts/bench/impair-hub.c)
 * in a real lab: with the servers' switch ports moved from the bridge into the hub, a UDP
 * datagram sent by one server's kernel (its checksum left to the veth) still arrives, and the
 * uplink host on the bridge (198.18.0.1) still answers ping. Before the hub completed such
 * checksums and joined the bridge, neither did: the agents' heartbeats and lease grants were
 * dropped and every monitor's uplink check failed, so the bench's false-alarm runs counted
 * nothing. Needs root.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { startImpairment } from '../../scripts/bench/impair.js';
import type { Impairment } from '../../scripts/bench/impair.js';
import { exec } from '../../scripts/lab/exec.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';

const UPLINK_HOST = '198.18.0.1';

function bare(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}

/** Sends one UDP datagram from `from` to `to`'s LAN address; resolves with what `to` received. */
async function udpThrough(lab: Lab, from: string, to: string, text: string): Promise<string> {
  const address = bare(lab.get(to).plan.lanAddress);
  const receiver = lab.group.spawn({
    name: `udp-receiver-${text}`,
    netns: lab.netnsOf(to),
    argv: ['socat', '-u', `UDP-RECV:7999,bind=${address}`, 'STDOUT'],
  });
  let received = '';
  receiver.child.stdout?.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  try {
    // Sent until it arrives or 3 s have passed: the receiver binds a moment after its start.
    const until = Date.now() + 3000;
    while (!received.includes(text) && Date.now() < until) {
      await exec('ip', [
        'netns',
        'exec',
        lab.netnsOf(from),
        'socat',
        '-u',
        `SYSTEM:echo ${text}`,
        `UDP-SENDTO:${address}:7999`,
      ]);
      await new Promise((done) => setTimeout(done, 100));
    }
    return received;
  } finally {
    await receiver.stop(1000);
  }
}

async function pings(lab: Lab, from: string, address: string): Promise<boolean> {
  const result = await exec('ip', [
    'netns',
    'exec',
    lab.netnsOf(from),
    'ping',
    '-c',
    '3',
    '-i',
    '0.2',
    '-W',
    '1',
    address,
  ]).then(
    () => true,
    () => false,
  );
  return result;
}

const missing = !existsSync('/usr/bin/socat')
  ? 'socat is not installed (apt-get install socat)'
  : !existsSync('/usr/bin/gcc')
    ? 'gcc is not installed (apt-get install gcc)'
    : null;

describeIfAvailable('lab: the impairing switch carries what the bridge carries', missing, function () {
  this.timeout(120_000);
  let lab: Lab | null = null;
  let impairment: Impairment | null = null;

  before(async () => {
    lab = await startLab({ servers: 2, agentCommand: placeholderAgent, observer: false });
  });

  after(async () => {
    await impairment?.stop().catch(() => undefined);
    await lab?.stop();
  });

  it('UDP between servers and ping to the uplink host, on the bridge and through the hub', async () => {
    const l = lab as Lab;
    expect(await udpThrough(l, 'a', 'b', 'bridge')).to.include('bridge');
    expect(await pings(l, 'a', UPLINK_HOST)).to.equal(true);
    impairment = await startImpairment(l, { loss: 0, delayMs: 0, jitterMs: 0, mode: 'hub' });
    expect(await udpThrough(l, 'a', 'b', 'hub')).to.include('hub');
    expect(await pings(l, 'a', UPLINK_HOST)).to.equal(true);
    const report = await impairment.stop();
    impairment = null;
    expect(report.method).to.equal('user-space-hub');
    // The datagrams came through only because their checksums were completed.
    expect(Number(report.counters?.['checksummed'] ?? 0)).to.be.greaterThan(0);
    // Back on the bridge, as before.
    expect(await udpThrough(l, 'b', 'a', 'after')).to.include('after');
  });
});
