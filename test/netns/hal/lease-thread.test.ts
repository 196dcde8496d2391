/**
 * The lease service on its own thread (`lease.thread: worker`) against the agent's event
 * loop (`event-loop`), on real UDP sockets: three members in two namespaces, the holder's
 * main thread stalled (a busy loop) for four times the lease. On the worker thread the lease
 * is renewed through the stall; on the event loop it is lost, and says why. Needs root.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVethLan, deleteNamespaces, netnsUnavailable } from './fixtures/netns.js';
import type { VethLan } from './fixtures/netns.js';
import { LeaseMemberProcess as Member } from './fixtures/lease-thread-process.js';
import type { MemberLine as Line } from './fixtures/lease-thread-process.js';
import { run, stopChild, waitFor } from '../../fixtures/processes.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/lease-thread-member.js', import.meta.url));
const PORT = 7407;
const DURATION_MS = 100;
const RENEW_MS = 10;
const BLOCK_MS = 4 * DURATION_MS;

const unavailable = netnsUnavailable();

(unavailable === null ? describe : describe.skip)(
  `lease service on its own thread (namespaces)${unavailable === null ? '' : ` — skipped: ${unavailable}`}`,
  function () {
    this.timeout(30_000);
    let lan: VethLan | null = null;
    let dir = '';
    const members: Member[] = [];
    let voters: Array<{ name: string; lan: string; mgmt: null }> = [];
    let keyFile = '';

    function start(ns: string, self: string, thread: 'worker' | 'event-loop'): Member {
      const args = { self, voters, port: PORT, keyFile, durationMs: DURATION_MS, renewMs: RENEW_MS, thread };
      const m = new Member(
        spawn('ip', ['netns', 'exec', ns, process.execPath, SCRIPT, JSON.stringify(args)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        }),
      );
      members.push(m);
      return m;
    }

    /** Starts holder `a` on `thread`, has it take the lease, then stalls its main thread. */
    async function stallHolder(thread: 'worker' | 'event-loop', epoch: number): Promise<{ a: Member; after: Line }> {
      const l = lan!;
      const a = start(l.a, 'a', thread);
      await waitFor(() => a.last !== undefined, 10_000, `a (${thread}) printing`);
      a.say(`acquire ${epoch}`);
      await waitFor(() => a.events().some((e) => e.startsWith('held: ')), 10_000, `a (${thread}) holding the lease`);
      a.say(`block ${BLOCK_MS}`);
      await waitFor(() => (a.last?.blocked ?? 0) === 1, 10_000, `a (${thread}) stalled and back`);
      // Lines after the stall's own: what the thread heard meanwhile has been read.
      const at = a.lines.length;
      await waitFor(() => a.lines.length >= at + 5, 10_000, `a (${thread}) printing after the stall`);
      const after = a.last!;
      await stopChild(a.child);
      return { a, after };
    }

    before(async () => {
      lan = await createVethLan(207);
      // Voters b and c share namespace b (two addresses on its veth); holder a is alone in a.
      await run('ip', ['-n', lan.b, 'address', 'add', '198.18.207.3/24', 'dev', lan.ifB]);
      voters = [
        { name: 'a', lan: lan.ipA, mgmt: null },
        { name: 'b', lan: lan.ipB, mgmt: null },
        { name: 'c', lan: '198.18.207.3', mgmt: null },
      ];
      dir = mkdtempSync(join(tmpdir(), 'hotspare-lease-thread-'));
      keyFile = join(dir, 'peer.key');
      writeFileSync(keyFile, 'LeaseThreadTestPeerKey-0123456789\n', { mode: 0o600 });
      start(lan.b, 'b', 'event-loop');
      start(lan.b, 'c', 'event-loop');
    });
    after(async () => {
      for (const m of members) await stopChild(m.child);
      if (lan !== null) await deleteNamespaces([lan.a, lan.b]);
      rmSync(dir, { recursive: true, force: true });
    });

    it(`on its own thread, the lease is renewed through a ${BLOCK_MS} ms stall of the main thread`, async () => {
      const { a, after } = await stallHolder('worker', 1);
      expect(a.stderr).to.equal('');
      expect(
        after.events.filter((e) => !e.startsWith('held: ')),
        JSON.stringify(after.events),
      ).to.deep.equal([]);
      expect(after.held).to.equal(true);
      // Renewed during the stall: a lease taken before it would have ended 3 L ago.
      expect(after.leftUs).to.be.above(0);
    });

    it(`on the agent's event loop, the same stall loses the lease, and the loss says why`, async () => {
      const { after } = await stallHolder('event-loop', 2);
      const lost = after.events.filter((e) => e.startsWith('lost: '));
      expect(lost, JSON.stringify(after.events)).to.have.length(1);
      expect(lost[0]).to.match(/this agent's own requests were held up to \d+(\.\d)? ms by its event loop/);
      expect(lost[0]).to.not.contain('lease thread');
      expect(after.leftUs).to.equal(0);
    });
  },
);
