/**
 * Twin lease threads (`lease.thread: twins`) on real UDP sockets and real CPUs: three
 * members in two namespaces, each with two lease threads pinned to CPUs 0 and 1. A
 * SCHED_FIFO 99 busy loop then holds CPU 0 for four leases, as a host that stops one virtual
 * CPU for 100 ms and more does (bench-results/stall-witness-2026-12-05): every twin 0 stops,
 * and the lease is renewed by the twins 1 throughout. Needs root and two CPUs.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { run, stopChild, waitFor } from '../../fixtures/processes.js';
import { createVethLan, deleteNamespaces, netnsUnavailable } from './fixtures/netns.js';
import type { VethLan } from './fixtures/netns.js';
import { LeaseMemberProcess as Member } from './fixtures/lease-thread-process.js';

const MEMBER = fileURLToPath(new URL('./fixtures/lease-thread-member.js', import.meta.url));
const HOG = fileURLToPath(new URL('./fixtures/cpu-hog.js', import.meta.url));
const PORT = 7409;
// L 100 ms: a lease long enough that the other twin's own short holds on this loaded
// machine (tens of ms at times, bench-results/lease-twins-2026-12-05) do not end it, while
// the CPU held for four leases does end twin 0's.
const DURATION_MS = 100;
const RENEW_MS = 20;
const HOLD_MS = 4 * DURATION_MS;

const missing = netnsUnavailable() ?? (availableParallelism() < 2 ? `one CPU only (${availableParallelism()})` : null);

describeIfAvailable(
  'lease twins: one CPU held, the lease renewed by the other twin (namespaces)',
  missing,
  function () {
    this.timeout(60_000);
    let lan: VethLan | null = null;
    let dir = '';
    const children: ChildProcessWithoutNullStreams[] = [];

    after(async () => {
      for (const c of children) await stopChild(c);
      if (lan !== null) await deleteNamespaces([lan.a, lan.b]);
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    let a: Member | null = null;

    /** Holds the CPUs of these indexes for HOLD_MS, all from one instant; resolves when every hog let go. */
    async function holdCpus(cpus: number[]): Promise<void> {
      const hogs = cpus.map((cpu) => {
        const hog = spawn(process.execPath, [HOG, String(cpu), String(HOLD_MS)], { stdio: 'pipe' });
        children.push(hog);
        const out = { said: '', err: '' };
        hog.stdout.on('data', (c: Buffer) => (out.said += c.toString('utf8')));
        hog.stderr.on('data', (c: Buffer) => (out.err += c.toString('utf8')));
        const exited = new Promise<number | null>((resolve) => hog.on('exit', (c) => resolve(c)));
        return { hog, out, exited };
      });
      // Every hog pinned and real-time before any starts: they hold their CPUs together.
      for (const h of hogs) await waitFor(() => h.out.said.startsWith('ready '), 10_000, `a hog ready (${h.out.err})`);
      for (const h of hogs) h.hog.stdin.write('\n');
      for (const h of hogs) {
        expect(await h.exited, h.out.err).to.equal(0);
        expect(h.out.said).to.match(/^ready \d+\ngo\ndone\n$/);
      }
    }

    it(`holds the lease through ${HOLD_MS} ms of CPU 0 held (L ${DURATION_MS} ms), twin 0 stopping and coming back`, async () => {
      lan = await createVethLan(209);
      await run('ip', ['-n', lan.b, 'address', 'add', '198.18.209.3/24', 'dev', lan.ifB]);
      const voters = [
        { name: 'a', lan: lan.ipA, mgmt: null },
        { name: 'b', lan: lan.ipB, mgmt: null },
        { name: 'c', lan: '198.18.209.3', mgmt: null },
      ];
      dir = mkdtempSync(join(tmpdir(), 'hotspare-lease-twins-'));
      const keyFile = join(dir, 'peer.key');
      writeFileSync(keyFile, 'LeaseTwinsTestPeerKey-0123456789\n', { mode: 0o600 });
      const start = (ns: string, self: string): Member => {
        const args = { self, voters, port: PORT, keyFile, durationMs: DURATION_MS, renewMs: RENEW_MS, thread: 'twins' };
        const child = spawn('ip', ['netns', 'exec', ns, process.execPath, MEMBER, JSON.stringify(args)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        children.push(child);
        return new Member(child);
      };
      const holder = start(lan.a, 'a');
      a = holder;
      const others = [start(lan.b, 'b'), start(lan.b, 'c')];
      for (const m of [holder, ...others])
        await waitFor(
          () => m.events().filter((e) => e.startsWith('lease-thread:')).length === 2,
          10_000,
          'both twins ready',
        );
      // Each twin on a CPU of its own.
      const ready = holder.events().filter((e) => e.startsWith('lease-thread:'));
      expect(ready.join('\n')).to.match(/twin 0 pinned to CPU \d+/);
      expect(ready.join('\n')).to.match(/twin 1 pinned to CPU \d+/);
      // Past the voters' quiet period after their start, then the lease.
      await new Promise((resolve) => setTimeout(resolve, 200));
      holder.child.stdin.write('acquire 1\n');
      await waitFor(() => holder.events().some((e) => e.startsWith('held: ')), 10_000, 'a holding the lease');
      await waitFor(
        () => holder.events().some((e) => e.startsWith('lease-twin-held:')),
        10_000,
        'both of a twins holding',
      );

      await holdCpus([0]);
      // Twin 0 stopped for longer than its lease and asked again once it ran; the agent heard no loss.
      await waitFor(
        () => holder.events().some((e) => /^lease-twin-lost: lease twin 0 lost the lease at epoch 1/.test(e)),
        10_000,
        `twin 0's own lease running out while CPU 0 was held (a said: ${JSON.stringify(holder.events().slice(-6))})`,
      );
      const at = holder.lines.length;
      await waitFor(() => holder.lines.length >= at + 5, 10_000, 'a printing after the hold');
      const events = holder.events();
      expect(
        events.filter((e) => e.startsWith('lost: ')),
        JSON.stringify(events),
      ).to.deep.equal([]);
      expect(holder.lines.at(-1)?.held).to.equal(true);
      expect(holder.lines.at(-1)?.leftUs).to.be.above(0);
      expect(holder.stderr).to.equal('');
    });

    it('loses the lease when both CPUs are held as long (the check above can fail)', async function () {
      if (a === null) this.skip();
      const m = a;
      await holdCpus([0, 1]);
      await waitFor(
        () => m.events().some((e) => e.startsWith('lost: ')),
        10_000,
        `the lease lost (a said: ${JSON.stringify(m.events().slice(-6))})`,
      );
    });
  },
);
