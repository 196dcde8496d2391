import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ARP_TOOL } from '../../../hal/nic/linux.js';
import { DEFAULT_NETLINK_ADDON } from '../../../hal/nic/netlink.js';
import { existsSync } from 'node:fs';
import { createVethLan, destroyVethLan, ipIn, netnsUnavailable, type VethLan } from './fixtures/netns.js';
import { NsSession, type Answer } from './fixtures/ns-client.js';
import { run, waitFor } from '../../fixtures/processes.js';
import { parseIpv4 } from '../../../hal/nic/address.js';
import { parseMonitorLine } from '../../../hal/nic/link-monitor.js';

const unavailable = netnsUnavailable();
const FLOATING = '198.18.202.10/24';
const FLOATING_IP = '198.18.202.10';

function report(value: unknown): { taken: boolean; evidence: string[] } {
  const taken: unknown = Reflect.get(Object(value), 'taken');
  const evidence: unknown = Reflect.get(Object(value), 'evidence');
  if (typeof taken !== 'boolean' || !Array.isArray(evidence)) {
    throw new Error(`not a conflict report: ${JSON.stringify(value)}`);
  }
  return { taken, evidence: evidence.map(String) };
}

function timing(label: string, answers: Answer[]): string {
  const ms = answers.map((a) => a.ms).sort((x, y) => x - y);
  const median = ms[Math.floor(ms.length / 2)] ?? 0;
  return `${label} ${median.toFixed(2)} ms median (${(ms[0] ?? 0).toFixed(2)}-${(ms[ms.length - 1] ?? 0).toFixed(2)}, n=${ms.length})`;
}

function linkEvents(session: NsSession): boolean[] {
  return session.events.filter((e) => e.event === 'link').map((e) => e['up'] === true);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** PIDs of the session's `hotspare-arp serve` children (read from /proc just now). */
async function helperPids(session: NsSession): Promise<number[]> {
  const children = (await session.ok('children')).value;
  const pids: number[] = [];
  for (const pid of Array.isArray(children) ? children : []) {
    const cmdline = await readFile(`/proc/${Number(pid)}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').slice(0, 2).join(' ').endsWith('hotspare-arp serve')) {
      pids.push(Number(pid));
    }
  }
  return pids;
}

/** Runs an ES module inside namespace `ns` (a LinuxNic with options the session cannot set). */
function nodeIn(ns: string, source: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', source],
      { timeout: 20_000 },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Error(`${error.message}: ${stderr}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

const DIST = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);

describe('hal/nic/linux parsing', () => {
  it('parses addresses strictly (they end up on ip’s batch input)', () => {
    expect(parseIpv4('198.18.0.10/24')).to.deep.equal({ ip: '198.18.0.10', prefix: 24 });
    expect(parseIpv4('198.18.0.10')).to.deep.equal({ ip: '198.18.0.10', prefix: null });
    for (const bad of [
      '198.18.0.256/24',
      '198.18.0.1/33',
      '198.18.0.1/24 dev lo',
      '198.18.0.1/24\naddress flush',
      'x',
      '',
    ]) {
      expect(parseIpv4(bad), JSON.stringify(bad)).to.equal(null);
    }
  });

  it('reads carrier changes from ip -o monitor link lines', () => {
    const line = (flags: string, state: string): string =>
      `2: hst0@if2: <${flags}> mtu 1500 qdisc noqueue state ${state} group default \\    link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff`;
    expect(parseMonitorLine(line('BROADCAST,MULTICAST,UP,LOWER_UP', 'UP'), 'hst0')).to.equal(true);
    expect(parseMonitorLine(line('NO-CARRIER,BROADCAST,MULTICAST,UP', 'DOWN'), 'hst0')).to.equal(false);
    expect(parseMonitorLine(line('NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP', 'DOWN'), 'hst0')).to.equal(false);
    expect(parseMonitorLine(line('BROADCAST,MULTICAST', 'DOWN'), 'hst0')).to.equal(false);
    expect(parseMonitorLine(line('BROADCAST,MULTICAST,UP,LOWER_UP', 'UP'), 'hst1')).to.equal(null);
    expect(parseMonitorLine(`Deleted ${line('BROADCAST,MULTICAST,UP,LOWER_UP', 'UP')}`, 'hst0')).to.equal(false);
    expect(parseMonitorLine('garbage', 'hst0')).to.equal(null);
  });
});

describeIfAvailable('hal/nic/linux LinuxNic in a network namespace', unavailable, function () {
  this.timeout(30_000);
  let lan: VethLan | null = null;
  let ours: NsSession | null = null;
  const timings: string[] = [];

  before(async () => {
    lan = await createVethLan(202);
    ours = await NsSession.start(lan.a);
    await ours.ok('icmp.open');
    await ours.ok('nic.open', lan.ifA, 0x4e01);
  });

  after(async () => {
    await ours?.stop();
    await destroyVethLan(lan);
    for (const line of timings) {
      console.log(`      ${line}`);
    }
  });

  function setup(): { lan: VethLan; ours: NsSession } {
    if (lan === null || ours === null) {
      throw new Error('setup failed');
    }
    return { lan, ours };
  }

  it('reads the interface MAC', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      const opened = await session.ok('nic.open', lan.ifA);
      expect(Reflect.get(Object(opened.value), 'mac')).to.equal(lan.macA);
      expect(Reflect.get(Object(opened.value), 'name')).to.equal(lan.ifA);
    } finally {
      await session.stop();
    }
  });

  it('assign and release are idempotent and holds reports the real state', async () => {
    const { lan, ours } = setup();
    const assigns: Answer[] = [];
    const releases: Answer[] = [];
    const holds: Answer[] = [];
    for (let round = 0; round < 10; round += 1) {
      expect((await ours.ok('nic.holds', FLOATING)).value).to.equal(false);
      assigns.push(await ours.ok('nic.assign', FLOATING));
      assigns.push(await ours.ok('nic.assign', FLOATING));
      holds.push(await ours.ok('nic.holds', FLOATING));
      expect(holds[holds.length - 1]?.value).to.equal(true);
      expect(await ipIn(lan.a, ['-4', 'address', 'show', 'dev', lan.ifA])).to.include(FLOATING);
      releases.push(await ours.ok('nic.release', FLOATING));
      releases.push(await ours.ok('nic.release', FLOATING));
      expect(await ipIn(lan.a, ['-4', 'address', 'show', 'dev', lan.ifA])).to.not.include(FLOATING_IP);
    }
    // holds reads the interface, not what this process did.
    await ipIn(lan.a, ['address', 'add', FLOATING, 'dev', lan.ifA]);
    expect((await ours.ok('nic.holds', FLOATING)).value).to.equal(true);
    expect((await ours.ok('nic.holds', FLOATING_IP)).value).to.equal(true);
    await ipIn(lan.a, ['address', 'del', FLOATING, 'dev', lan.ifA]);
    expect((await ours.ok('nic.holds', FLOATING)).value).to.equal(false);
    // release removes the IP whatever prefix it is held with.
    await ipIn(lan.a, ['address', 'add', '198.18.202.10/16', 'dev', lan.ifA]);
    await ours.ok('nic.release', FLOATING);
    expect((await ours.ok('nic.holds', FLOATING_IP)).value).to.equal(false);
    timings.push(
      timing(
        'assign (the default path):',
        assigns.filter((_, i) => i % 2 === 0),
      ),
    );
    timings.push(
      timing(
        'assign again (already held):',
        assigns.filter((_, i) => i % 2 === 1),
      ),
    );
    timings.push(
      timing(
        'release:',
        releases.filter((_, i) => i % 2 === 0),
      ),
    );
    timings.push(
      timing(
        'release again (not held):',
        releases.filter((_, i) => i % 2 === 1),
      ),
    );
    timings.push(timing('holds:', holds));
  });

  it('assigns by rtnetlink when the addon is built, through ip -batch without it: the same address either way; a refusal names the interface and the reason', async () => {
    const { lan } = setup();
    const built = existsSync(DEFAULT_NETLINK_ADDON);
    if (process.env['CI'] === 'true') expect(built, `${DEFAULT_NETLINK_ADDON} (make build)`).to.equal(true);
    const spare = 'hsnl0';
    await ipIn(lan.a, ['link', 'add', spare, 'type', 'veth', 'peer', 'name', 'hsnl1']);
    try {
      await ipIn(lan.a, ['link', 'set', spare, 'up']);
      for (const [netlink, expected] of [
        [true, built ? 'netlink' : 'ip -batch'],
        [false, 'ip -batch'],
      ] as const) {
        const session = await NsSession.start(lan.a);
        try {
          await session.ok('icmp.open');
          const opened = await session.ok('nic.open', spare, null, null, 0, netlink);
          expect(Reflect.get(Object(opened.value), 'assignsBy')).to.equal(expected);
          const assigns: Answer[] = [];
          for (let round = 0; round < 5; round += 1) {
            assigns.push(await session.ok('nic.assign', FLOATING));
            // Held already: no error (replace semantics, as `ip address replace`).
            await session.ok('nic.assign', FLOATING);
            const shown = await ipIn(lan.a, ['-4', '-o', 'address', 'show', 'dev', spare]);
            expect(
              shown.split('\n').filter((l) => l.includes(FLOATING)),
              expected,
            ).to.have.length(1);
            await session.ok('nic.release', FLOATING);
          }
          timings.push(timing(`assign (${expected}):`, assigns));
        } finally {
          await session.stop();
        }
      }
      // The interface goes after open: the assignment fails, naming it, the address and why.
      const session = await NsSession.start(lan.a);
      try {
        await session.ok('icmp.open');
        await session.ok('nic.open', spare);
        await ipIn(lan.a, ['link', 'del', spare]);
        const answer = await session.call('nic.assign', FLOATING);
        expect(answer.error?.name).to.equal('NicError');
        expect(answer.error?.message).to.include(spare).and.include(FLOATING);
        if (built) expect(answer.error?.message).to.include('netlink refused: ENODEV');
      } finally {
        await session.stop();
      }
    } finally {
      await ipIn(lan.a, ['link', 'del', spare]).catch(() => undefined);
    }
  });

  it('rejects bad addresses and unknown interfaces with NicError naming them', async () => {
    const { lan, ours } = setup();
    for (const [op, address] of [
      ['nic.assign', '198.18.202.300/24'],
      ['nic.assign', '198.18.202.30'],
      ['nic.release', 'eth0'],
      ['nic.holds', '198.18.202.30/24\naddress flush dev lo'],
    ] as const) {
      const answer = await ours.call(op, address);
      expect(answer.error?.name, `${op} ${address}`).to.equal('NicError');
      expect(answer.error?.message).to.include(lan.ifA).and.include(address);
    }
    const announce = await ours.call('nic.announce', '198.18.202.31/24', 1, 0);
    expect(announce.error?.name).to.equal('NicError');
    expect(announce.error?.message).to.include('not held');
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      const answer = await session.call('nic.open', 'hstnope0');
      expect(answer.error?.name).to.equal('NicError');
      expect(answer.error?.message).to.include('hstnope0');
    } finally {
      await session.stop();
    }
  });

  it('announce sends gratuitous ARPs that update the peer’s ARP cache', async () => {
    const { lan, ours } = setup();
    await run('ip', ['netns', 'exec', lan.b, 'sysctl', '-q', '-w', `net.ipv4.conf.${lan.ifB}.arp_accept=1`]);
    await ours.ok('nic.assign', FLOATING);
    try {
      const once = await ours.ok('nic.announce', FLOATING, 1, 0);
      const three = await ours.ok('nic.announce', FLOATING, 3, 100);
      expect(three.ms).to.be.at.least(200);
      let neigh = '';
      for (let i = 0; i < 100 && !neigh.toLowerCase().includes(lan.macA); i += 1) {
        neigh = await ipIn(lan.b, ['neigh', 'show', FLOATING_IP, 'dev', lan.ifB]);
        await sleep(20);
      }
      expect(neigh.toLowerCase()).to.include(lan.macA);
      timings.push(
        `announce 1 gratuitous ARP: ${once.ms.toFixed(1)} ms; 3 at 100 ms intervals: ${three.ms.toFixed(1)} ms`,
      );
    } finally {
      await ours.ok('nic.release', FLOATING);
    }
  });

  it('detectConflict: the peer’s address is taken (ICMP and ARP evidence)', async () => {
    const { lan, ours } = setup();
    const answer = await ours.ok('nic.detectConflict', `${lan.ipB}/24`, 500);
    const result = report(answer.value);
    expect(result.taken).to.equal(true);
    expect(result.evidence).to.include('icmp-reply');
    expect(result.evidence).to.include(`arp-reply ${lan.macB}`);
    timings.push(
      `detectConflict (500 ms window), taken: ${answer.ms.toFixed(1)} ms, evidence ${JSON.stringify(result.evidence)}`,
    );
  });

  it('detectConflict: a free address is not taken', async () => {
    const { ours } = setup();
    const answer = await ours.ok('nic.detectConflict', '198.18.202.50/24', 500);
    expect(report(answer.value)).to.deep.equal({ taken: false, evidence: [] });
    expect(answer.ms).to.be.within(450, 1500);
    timings.push(`detectConflict (500 ms window), free: ${answer.ms.toFixed(1)} ms`);
  });

  it('detectConflict: an address only we hold is not taken (our own echo does not count)', async () => {
    const { lan, ours } = setup();
    expect(report((await ours.ok('nic.detectConflict', `${lan.ipA}/24`, 300)).value)).to.deep.equal({
      taken: false,
      evidence: [],
    });
    await ours.ok('nic.assign', FLOATING);
    try {
      expect(report((await ours.ok('nic.detectConflict', FLOATING, 300)).value)).to.deep.equal({
        taken: false,
        evidence: [],
      });
    } finally {
      await ours.ok('nic.release', FLOATING);
    }
  });

  it('detectConflict: an address both we and the peer hold is taken (ARP evidence)', async () => {
    const { lan, ours } = setup();
    await ours.ok('nic.assign', FLOATING);
    await ipIn(lan.b, ['address', 'add', FLOATING, 'dev', lan.ifB]);
    try {
      const result = report((await ours.ok('nic.detectConflict', FLOATING, 300)).value);
      expect(result.taken).to.equal(true);
      expect(result.evidence).to.include(`arp-reply ${lan.macB}`);
      expect(result.evidence).to.not.include('icmp-reply');
    } finally {
      await ipIn(lan.b, ['address', 'del', FLOATING, 'dev', lan.ifB]);
      await ours.ok('nic.release', FLOATING);
    }
  });

  it('watchConflict: reports each answer of the holder as it arrives, ends at end() or at its limit; a free address stays silent', async () => {
    const { lan, ours } = setup();
    const watched = (value: unknown): { seen: Array<{ evidence: string; atMs: number }>; endedMs: number | null } =>
      value as { seen: Array<{ evidence: string; atMs: number }>; endedMs: number | null };
    // The peer's address, probes every 10 ms for 200 ms, ended by us.
    const held = watched((await ours.ok('nic.watch', `${lan.ipB}/24`, 10, 60_000, 200)).value);
    const replies = held.seen.filter((s) => s.evidence === `arp-reply ${lan.macB}`);
    expect(replies.length, JSON.stringify(held)).to.be.at.least(5);
    expect(replies[0]?.atMs ?? Infinity).to.be.below(100);
    expect(held.endedMs).to.be.within(190, 2000);
    // A free address: nothing, and the watch ends at its own limit (150 ms) before we end it.
    const free = watched((await ours.ok('nic.watch', '198.18.202.51/24', 10, 150, 400)).value);
    expect(free.seen).to.deep.equal([]);
    expect(free.endedMs).to.be.within(140, 390);
    timings.push(
      `watchConflict: first reply of the holder after ${replies[0]?.atMs.toFixed(1)} ms, ${replies.length} in 200 ms`,
    );
  });

  it('watchConflict while free: another host probing for the address hears our probes (contended), and we hear its probes', async () => {
    // The claim guard (src/agent/claim-guard.ts) rests on both halves: a watch that runs on
    // after a silent check makes another server's check back off, and reports that server.
    const { lan, ours } = setup();
    const watching = ours.ok('nic.watch', FLOATING, 10, 60_000, 3000);
    let bHeard = '';
    // b probes again and again (100 ms each) until it hears our watch, or the watch is over.
    let over = false;
    void watching.finally(() => (over = true));
    while (!over && !bHeard.includes(`arp-probe ${lan.macA}`)) {
      bHeard = await new Promise<string>((resolve) => {
        execFile(
          'ip',
          ['netns', 'exec', lan.b, DEFAULT_ARP_TOOL, 'probe', lan.ifB, FLOATING_IP, '100'],
          { timeout: 10_000 },
          (_error, stdout) => resolve(stdout),
        );
      });
    }
    const seen = ((await watching).value as { seen: Array<{ evidence: string }> }).seen.map((x) => x.evidence);
    expect(bHeard, "b's probe output").to.include(`arp-probe ${lan.macA}`);
    expect(seen).to.include(`arp-probe ${lan.macB}`);
    expect(
      seen.every((x) => !x.endsWith(lan.macA)),
      'our own probes are not reported',
    ).to.equal(true);
  });

  it('neighborMac: null for an unknown address, the peer’s MAC after traffic', async () => {
    const { lan, ours } = setup();
    expect((await ours.ok('nic.neighborMac', '198.18.202.77/24')).value).to.equal(null);
    await ipIn(lan.a, ['neigh', 'flush', 'dev', lan.ifA]);
    expect((await ours.ok('nic.neighborMac', lan.ipB)).value).to.equal(null);
    await ours.ok('icmp.send', lan.ipB, 0x4e02, 1);
    await ours.waitEvent((e) => Reflect.get(Object(e['reply']), 'identifier') === 0x4e02, 2000, 'echo reply');
    expect((await ours.ok('nic.neighborMac', `${lan.ipB}/24`)).value).to.equal(lan.macB);
  });

  it('reports link changes once each: peer down/up, own down/up', async () => {
    const { lan, ours } = setup();
    expect((await ours.ok('nic.linkUp')).value).to.equal(true);
    const before = linkEvents(ours).length;
    await ipIn(lan.b, ['link', 'set', lan.ifB, 'down']);
    await waitFor(() => linkEvents(ours).length > before, 5000, 'link down event');
    expect((await ours.ok('nic.linkUp')).value).to.equal(false);
    const down = report((await ours.ok('nic.detectConflict', '198.18.202.51/24', 200)).value);
    expect(down).to.deep.equal({ taken: true, evidence: ['own link down'] });
    await ipIn(lan.b, ['link', 'set', lan.ifB, 'up']);
    await waitFor(() => linkEvents(ours).length > before + 1, 5000, 'link up event');
    await ipIn(lan.a, ['link', 'set', lan.ifA, 'down']);
    await waitFor(() => linkEvents(ours).length > before + 2, 5000, 'own link down event');
    await ipIn(lan.a, ['link', 'set', lan.ifA, 'up']);
    await waitFor(() => linkEvents(ours).length > before + 3, 5000, 'own link up event');
    await sleep(500);
    expect(linkEvents(ours).slice(before)).to.deep.equal([false, true, false, true]);
    expect((await ours.ok('nic.linkUp')).value).to.equal(true);
    // Changes that are not about the carrier (here: the MTU) report nothing.
    await ipIn(lan.a, ['link', 'set', lan.ifA, 'mtu', '1400']);
    await sleep(300);
    expect(linkEvents(ours).slice(before)).to.have.length(4);
  });

  it("with the agent's real-time priority, ip -batch and the ARP helper run at SCHED_FIFO; without it, normally", async () => {
    const { lan } = setup();
    /** Scheduling policy (1: SCHED_FIFO) and real-time priority of each child, by command. */
    const policies = async (session: NsSession): Promise<Record<string, [number, number]>> => {
      const children = (await session.ok('children')).value;
      const seen: Record<string, [number, number]> = {};
      for (const pid of Array.isArray(children) ? children : []) {
        const stat = await readFile(`/proc/${Number(pid)}/stat`, 'utf8').catch(() => '');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        // Fields 40 and 41 of stat (rt_priority, policy); the slice starts at field 3.
        seen[comm] = [Number(fields[41 - 3]), Number(fields[40 - 3])];
      }
      return seen;
    };
    for (const [realtime, expected] of [
      [7, [1, 7]],
      [0, [0, 0]],
    ] as const) {
      const session = await NsSession.start(lan.a);
      try {
        await session.ok('icmp.open');
        await session.ok('nic.open', lan.ifA, null, null, realtime);
        // The helper starts at open; ip -batch at the first address request.
        await session.ok('nic.holds', FLOATING);
        let seen = await policies(session);
        for (const start = Date.now(); Object.keys(seen).length < 2 && Date.now() - start < 5000;) {
          await sleep(20);
          seen = await policies(session);
        }
        expect(seen['ip'], `realtime ${realtime}: ${JSON.stringify(seen)}`).to.deep.equal(expected);
        expect(seen['hotspare-arp'], `realtime ${realtime}: ${JSON.stringify(seen)}`).to.deep.equal(expected);
      } finally {
        await session.stop();
      }
    }
  });

  it('close stops and reaps every child process', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      await session.ok('nic.open', lan.ifA);
      await session.ok('nic.holds', FLOATING);
      const detect = session.call('nic.detectConflict', '198.18.202.52/24', 2000);
      await sleep(300);
      const busy = await session.ok('children');
      expect(Array.isArray(busy.value) ? busy.value.length : 0).to.be.at.least(2);
      await session.ok('nic.close');
      expect((await detect).ok).to.equal(true);
      expect((await session.ok('children')).value).to.deep.equal([]);
      expect((await session.call('nic.holds', FLOATING)).error?.name).to.equal('NicError');
    } finally {
      await session.stop();
    }
  });

  it('a watch asked for in the same tick as open (its helper still starting) starts once the helper is ready', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      const opened = (await session.ok('nic.open', lan.ifA, null, `${lan.ipB}/24`)).value as {
        watched: { seen: Array<{ evidence: string }> } | null;
      };
      expect(opened.watched, 'a watch, not null').to.not.equal(null);
      expect(opened.watched?.seen.map((x) => x.evidence)).to.include(`arp-reply ${lan.macB}`);
      expect(await helperPids(session)).to.have.length(1);
    } finally {
      await session.stop();
    }
  });

  it('the first check right after open hears the holder (the helper is ready first)', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      await session.ok('nic.open', lan.ifA);
      const result = report((await session.ok('nic.detectConflict', `${lan.ipB}/24`, 20)).value);
      expect(result.evidence).to.include(`arp-reply ${lan.macB}`);
      expect(await helperPids(session)).to.have.length(1);
    } finally {
      await session.stop();
    }
  });

  it('survives a killed helper: the probe in flight fails with NicError, a new helper serves the next', async () => {
    const { lan } = setup();
    const session = await NsSession.start(lan.a);
    try {
      await session.ok('icmp.open');
      await session.ok('nic.open', lan.ifA);
      await session.ok('nic.holds', FLOATING);
      // A helper that dies after a second of service is replaced at once (younger: later).
      await sleep(1100);
      const [pid] = await helperPids(session);
      expect(pid).to.be.a('number');
      const detect = session.call('nic.detectConflict', '198.18.202.53/24', 3000);
      await sleep(100);
      process.kill(pid!, 'SIGKILL');
      const failed = await detect;
      expect(failed.error?.name).to.equal('NicError');
      expect(failed.error?.message).to.include('helper exited (killed by SIGKILL)').and.include('198.18.202.53');
      let pids: number[] = [];
      for (let i = 0; i < 250 && !(pids.length === 1 && pids[0] !== pid); i += 1) {
        await sleep(20);
        pids = await helperPids(session);
      }
      expect(pids, 'a new helper within 5 s').to.have.length(1).and.not.include(pid);
      const result = report((await session.ok('nic.detectConflict', `${lan.ipB}/24`, 20)).value);
      expect(result.evidence).to.include(`arp-reply ${lan.macB}`);
      expect(await helperPids(session)).to.deep.equal(pids);
    } finally {
      await session.stop();
    }
  });

  it('falls back to a process per call when the helper cannot start', async () => {
    const { lan } = setup();
    const dir = await mkdtemp(join(tmpdir(), 'hotspare-arp-'));
    try {
      // The real tool, except that `serve` fails; every call is logged.
      const wrapper = join(dir, 'hotspare-arp');
      await writeFile(
        wrapper,
        `#!/bin/sh\necho "$1" >> "${dir}/calls"\n[ "$1" = serve ] && exit 3\nexec "${DEFAULT_ARP_TOOL}" "$@"\n`,
      );
      await chmod(wrapper, 0o755);
      const out = await nodeIn(
        lan.a,
        `import { MonotonicClock } from ${DIST('../../../hal/clock/monotonic.js')};
        import { RawIcmpEcho } from ${DIST('../../../hal/icmp/linux.js')};
        import { LinuxNic } from ${DIST('../../../hal/nic/linux.js')};
        const clock = new MonotonicClock();
        const icmp = RawIcmpEcho.open(clock, {});
        const nic = await LinuxNic.open({ interface: ${JSON.stringify(lan.ifA)}, icmp, clock, arpTool: ${JSON.stringify(wrapper)} });
        try {
          const taken = await nic.detectConflict(${JSON.stringify(`${lan.ipB}/24`)}, 30);
          const free = await nic.detectConflict('198.18.202.54/24', 30);
          console.log(JSON.stringify({ taken, free }));
        } finally {
          await nic.close();
          icmp.close();
        }`,
      );
      const answers: unknown = JSON.parse(out);
      expect(report(Reflect.get(Object(answers), 'taken')).evidence).to.include(`arp-reply ${lan.macB}`);
      expect(report(Reflect.get(Object(answers), 'free'))).to.deep.equal({ taken: false, evidence: [] });
      expect((await readFile(join(dir, 'calls'), 'utf8')).split('\n')).to.deep.equal(['serve', 'probe', 'probe', '']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
