import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DEFAULT_ARP_TOOL } from '../../../hal/nic/linux.js';
import { createVethLan, destroyVethLan, ipIn, netnsUnavailable } from './fixtures/netns.js';
import type { VethLan } from './fixtures/netns.js';
import { exited, stopChild, waitFor } from '../../fixtures/processes.js';

interface ToolRun {
  code: number | null;
  stdout: string;
  ms: number;
}

function tool(ns: string, args: string[]): Promise<ToolRun> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, DEFAULT_ARP_TOOL, ...args], { timeout: 10_000 }, (error, stdout) => {
      const code =
        error === null
          ? 0
          : typeof (error as { code?: unknown }).code === 'number'
            ? (error as { code: number }).code
            : null;
      resolve({ code, stdout, ms: Number(process.hrtime.bigint() - start) / 1e6 });
    });
  });
}

/** A `hotspare-arp serve IFACE` child inside a namespace, and the lines it printed, in order. */
class Serve {
  readonly lines: string[] = [];
  readonly child: ChildProcessWithoutNullStreams;
  stderr = '';

  constructor(ns: string, iface: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, DEFAULT_ARP_TOOL, 'serve', iface], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.lines.push(line));
  }

  get ended(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  async ready(): Promise<void> {
    await waitFor(() => this.lines.includes('ready') || this.ended, 5000, 'ready');
    expect(this.lines[0], this.stderr).to.equal('ready');
  }

  send(text: string): void {
    this.child.stdin.write(text);
  }

  /** The answer to request `id` (the line without its ID); `which` picks among several (a watch's). */
  async answer(id: string, which: (answer: string) => boolean = () => true, timeoutMs = 5000): Promise<string> {
    const find = (): string | undefined =>
      this.lines.find((line) => line.startsWith(`${id} `) && which(line.slice(id.length + 1)));
    await waitFor(() => find() !== undefined || this.ended, timeoutMs, `answer ${id}`);
    const line = find();
    if (line === undefined) {
      throw new Error(`helper ended without answering ${id}: ${this.stderr}`);
    }
    return line.slice(id.length + 1);
  }
}

const why =
  netnsUnavailable() ?? (existsSync(DEFAULT_ARP_TOOL) ? null : `${DEFAULT_ARP_TOOL} is not built (make builds it)`);

describeIfAvailable('hal/nic hotspare-arp (RFC 5227 probing) in network namespaces', why, function () {
  this.timeout(30_000);
  let lan: VethLan | null = null;
  before(async () => {
    lan = await createVethLan(203);
  });
  after(async () => destroyVethLan(lan));

  it('a free address: exit 0, nothing seen, within the window', async () => {
    const r = await tool(lan!.a, ['probe', lan!.ifA, '198.18.203.50', '60']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('');
    expect(r.ms).to.be.within(55, 1000);
  });

  it('an address the peer uses: exit 1 with the peer MAC', async () => {
    const r = await tool(lan!.a, ['probe', lan!.ifA, lan!.ipB, '60']);
    expect(r.code).to.equal(1);
    expect(r.stdout.trim()).to.equal(`arp-reply ${lan!.macB}`);
  });

  it('two hosts probing for the same address at once both see a contention (exit 2)', async () => {
    const [a, b] = await Promise.all([
      tool(lan!.a, ['probe', lan!.ifA, '198.18.203.60', '100']),
      tool(lan!.b, ['probe', lan!.ifB, '198.18.203.60', '100']),
    ]);
    expect([a.code, b.code]).to.deep.equal([2, 2]);
    expect(a.stdout.trim()).to.equal(`arp-probe ${lan!.macB}`);
    expect(b.stdout.trim()).to.equal(`arp-probe ${lan!.macA}`);
  });

  it('announce updates the peer ARP cache to our MAC', async () => {
    await ipIn(lan!.a, ['address', 'add', '198.18.203.70/24', 'dev', lan!.ifA]);
    await ipIn(lan!.b, [
      'neigh',
      'replace',
      '198.18.203.70',
      'lladdr',
      '02:99:99:99:99:99',
      'dev',
      lan!.ifB,
      'nud',
      'stale',
    ]);
    const r = await tool(lan!.a, ['announce', lan!.ifA, '198.18.203.70', '3', '10']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal('sent 3');
    const neigh = await ipIn(lan!.b, ['neigh', 'show', '198.18.203.70', 'dev', lan!.ifB]);
    expect(neigh).to.contain(lan!.macA);
  });

  it('announce sends nothing for an address the interface does not hold: exit 3, "address not held"', async () => {
    const r = await tool(lan!.a, ['announce', lan!.ifA, '198.18.203.72', '3', '10']);
    expect(r.code).to.equal(3);
    expect(r.stdout).to.equal('');
  });

  it('bad arguments exit 3 with a message naming the argument', async () => {
    expect((await tool(lan!.a, ['probe', lan!.ifA, 'not-an-ip', '60'])).code).to.equal(3);
    expect((await tool(lan!.a, ['probe', 'nosuchif0', '198.18.203.50', '60'])).code).to.equal(3);
    expect((await tool(lan!.a, ['probe', lan!.ifA, '198.18.203.50', '-5'])).code).to.equal(3);
  });

  describe('serve mode (one long-lived helper)', () => {
    const helpers: Serve[] = [];
    const serve = async (ns: string, iface: string): Promise<Serve> => {
      const helper = new Serve(ns, iface);
      helpers.push(helper);
      await helper.ready();
      return helper;
    };
    afterEach(async () => {
      await Promise.all(helpers.splice(0).map((helper) => stopChild(helper.child)));
    });

    it('answers a probe: the holder’s MAC, or silent after the window', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      helper.send(`held probe ${lan!.ipB} 30\n`);
      expect(await helper.answer('held')).to.equal(`arp-reply ${lan!.macB}`);
      const start = Date.now();
      helper.send('free probe 198.18.203.51 60\n');
      expect(await helper.answer('free')).to.equal('silent');
      expect(Date.now() - start).to.be.at.least(55);
    });

    it('hears another host probing for the same address at the same time', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      // Wide enough for the other prober's process to start meanwhile, also under load.
      helper.send('both probe 198.18.203.61 400\n');
      const other = await tool(lan!.b, ['probe', lan!.ifB, '198.18.203.61', '60']);
      expect(await helper.answer('both')).to.equal(`arp-probe ${lan!.macB}`);
      expect(other.code).to.equal(2);
      expect(other.stdout.trim()).to.equal(`arp-probe ${lan!.macA}`);
    });

    it('runs requests at the same time and answers each by its ID as it completes', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      await ipIn(lan!.a, ['address', 'add', '198.18.203.71/24', 'dev', lan!.ifA]);
      // Without arp_accept, a gratuitous ARP only updates an entry the peer already has.
      await ipIn(lan!.b, [
        'neigh',
        'replace',
        '198.18.203.71',
        'lladdr',
        '02:99:99:99:99:99',
        'dev',
        lan!.ifB,
        'nud',
        'stale',
      ]);
      try {
        // Written at once, longest first: run one after the other, they would answer in order.
        helper.send(`slow probe ${lan!.ipB} 300\nmid probe 198.18.203.52 100\nfast announce 198.18.203.71 2 10\n`);
        expect(await helper.answer('slow')).to.equal(`arp-reply ${lan!.macB}`);
        expect(await helper.answer('mid')).to.equal('silent');
        expect(await helper.answer('fast')).to.equal('done');
        expect(helper.lines.slice(1)).to.deep.equal(['fast done', 'mid silent', `slow arp-reply ${lan!.macB}`]);
        const neigh = await ipIn(lan!.b, ['neigh', 'show', '198.18.203.71', 'dev', lan!.ifB]);
        expect(neigh).to.contain(lan!.macA);
      } finally {
        await ipIn(lan!.a, ['address', 'del', '198.18.203.71/24', 'dev', lan!.ifA]);
      }
    });

    it('an announcement stops when the address goes: each gratuitous ARP only while the address is held', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      helper.send('none announce 198.18.203.73 1 0\n');
      expect(await helper.answer('none')).to.equal('error announce: address not held (sent 0)');
      await ipIn(lan!.a, ['address', 'add', '198.18.203.73/24', 'dev', lan!.ifA]);
      try {
        // Three, 1500 ms apart: the first goes at once, the address is gone before the second
        // (the delete is a process start, which a loaded machine may hold for hundreds of ms).
        helper.send('gone announce 198.18.203.73 3 1500\n');
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        await ipIn(lan!.a, ['address', 'del', '198.18.203.73/24', 'dev', lan!.ifA]);
      }
      expect(await helper.answer('gone')).to.equal('error announce: address not held (sent 1)');
    });

    it('answers bad commands with an error naming the command, and keeps serving', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      const bad: Array<[string, string, RegExp]> = [
        ['1 frob 1.2.3.4', '1', /^error unknown command "frob"/],
        ['2', '2', /^error missing command/],
        ['3 probe 198.18.203.50', '3', /^error probe: usage/],
        ['4 probe 198.18.203.999 10', '4', /^error probe: not an IPv4 address: "198\.18\.203\.999"/],
        ['5 probe 198.18.203.50 0', '5', /^error probe: WINDOW_MS must be a whole number from 1 to 600000, got "0"/],
        ['6 probe 198.18.203.50 10x', '6', /^error probe: WINDOW_MS/],
        ['7 announce 198.18.203.50 1001 10', '7', /^error announce: COUNT/],
        ['8 announce 198.18.203.50 1 -1', '8', /^error announce: INTERVAL_MS/],
        ['9 announce 198.18.203.50 1 10 extra', '9', /^error announce: usage/],
        [`10 probe ${'1'.repeat(300)} 10`, '10', /^error line longer than 255 bytes refused/],
        ['11 probe 198.18.203.50\u0000 10', '?', /^error line with a NUL byte refused/],
        ['bad/id probe 198.18.203.50 10', '?', /^error invalid ID "bad\/id"/],
        ['12 watch 198.18.203.50 10', '12', /^error watch: usage/],
        ['13 watch 198.18.203.50 0 100', '13', /^error watch: INTERVAL_MS must be a whole number from 1 to 60000/],
        [
          '14 watch 198.18.203.50 10 5',
          '14',
          /^error watch: LIMIT_MS must be a whole number from INTERVAL_MS to 600000/,
        ],
        ['15 end', '15', /^error end: no watch 15 in flight/],
      ];
      for (const [line, id, expected] of bad) {
        helper.lines.length = 1;
        helper.send(`${line}\n`);
        expect(await helper.answer(id), line).to.match(expected);
      }
      helper.send('dup probe 198.18.203.53 200\ndup probe 198.18.203.53 10\n');
      expect(await helper.answer('dup')).to.equal('error probe: ID already in flight');
      helper.send(`ok probe ${lan!.ipB} 20\n`);
      expect(await helper.answer('ok')).to.equal(`arp-reply ${lan!.macB}`);
      expect(helper.ended).to.equal(false);
    });

    it('a watch reports each answer as it arrives and ends at `ID end`; an ended watch answers ended once', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      helper.send(`w watch ${lan!.ipB} 10 60000\n`);
      await waitFor(
        () => helper.lines.filter((l) => l === `w seen arp-reply ${lan!.macB}`).length >= 3,
        5000,
        `three answers of the holder: ${JSON.stringify(helper.lines)}`,
      );
      helper.send('w end\n');
      expect(await helper.answer('w', (a) => a === 'ended')).to.equal('ended');
      helper.send('w end\n');
      expect(await helper.answer('w', (a) => a.startsWith('error'))).to.match(/^error end: no watch w in flight/);
    });

    it('exits with status 0 at the end of its input, also with a request in flight', async () => {
      const helper = await serve(lan!.a, lan!.ifA);
      helper.send('long probe 198.18.203.54 10000\n');
      helper.child.stdin.end();
      const start = Date.now();
      await exited(helper.child);
      expect(helper.child.exitCode).to.equal(0);
      expect(Date.now() - start).to.be.below(2000);
    });

    it('without the interface: exit 3, never ready', async () => {
      const helper = new Serve(lan!.a, 'nosuchif0');
      helpers.push(helper);
      await exited(helper.child);
      expect(helper.child.exitCode).to.equal(3);
      expect(helper.lines).to.deep.equal([]);
      expect(helper.stderr).to.include('SIOCGIFINDEX');
    });
  });
});
