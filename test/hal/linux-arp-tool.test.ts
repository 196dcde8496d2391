import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DEFAULT_ARP_TOOL } from '../../hal/nic/linux.js';
import { createVethLan, destroyVethLan, ipIn, netnsUnavailable } from './fixtures/netns.js';
import type { VethLan } from './fixtures/netns.js';

interface ToolRun {
  code: number | null;
  stdout: string;
  ms: number;
}

function tool(ns: string, args: string[]): Promise<ToolRun> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, DEFAULT_ARP_TOOL, ...args], { timeout: 10_000 }, (error, stdout) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null;
      resolve({ code, stdout, ms: Number(process.hrtime.bigint() - start) / 1e6 });
    });
  });
}

const why = netnsUnavailable() ?? (existsSync(DEFAULT_ARP_TOOL) ? null : `${DEFAULT_ARP_TOOL} is not built (make builds it)`);

(why === null ? describe : describe.skip)(`hal/nic hotspare-arp (RFC 5227 probing) in network namespaces${why === null ? '' : ` (skipped: ${why})`}`, function () {
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
    const [a, b] = await Promise.all([tool(lan!.a, ['probe', lan!.ifA, '198.18.203.60', '100']), tool(lan!.b, ['probe', lan!.ifB, '198.18.203.60', '100'])]);
    expect([a.code, b.code]).to.deep.equal([2, 2]);
    expect(a.stdout.trim()).to.equal(`arp-probe ${lan!.macB}`);
    expect(b.stdout.trim()).to.equal(`arp-probe ${lan!.macA}`);
  });

  it('announce updates the peer ARP cache to our MAC', async () => {
    await ipIn(lan!.a, ['address', 'add', '198.18.203.70/24', 'dev', lan!.ifA]);
    await ipIn(lan!.b, ['neigh', 'replace', '198.18.203.70', 'lladdr', '02:99:99:99:99:99', 'dev', lan!.ifB, 'nud', 'stale']);
    const r = await tool(lan!.a, ['announce', lan!.ifA, '198.18.203.70', '3', '10']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal('sent 3');
    const neigh = await ipIn(lan!.b, ['neigh', 'show', '198.18.203.70', 'dev', lan!.ifB]);
    expect(neigh).to.contain(lan!.macA);
  });

  it('bad arguments exit 3 with a message naming the argument', async () => {
    expect((await tool(lan!.a, ['probe', lan!.ifA, 'not-an-ip', '60'])).code).to.equal(3);
    expect((await tool(lan!.a, ['probe', 'nosuchif0', '198.18.203.50', '60'])).code).to.equal(3);
    expect((await tool(lan!.a, ['probe', lan!.ifA, '198.18.203.50', '-5'])).code).to.equal(3);
  });
});
