/**
 * The Linux peer transport for real: two namespaces joined by a veth, a heartbeat service in
 * each on node:dgram sockets bound to its own address. Needs root.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeFrame, NONCE_BYTES, PeerKey } from '../../../src/peer/index.js';
import type { PeerStatus } from '../../../src/peer/index.js';
import { createVethLan, deleteNamespaces, netnsUnavailable } from './fixtures/netns.js';
import type { VethLan } from './fixtures/netns.js';
import { run, stopChild, waitFor } from '../../fixtures/processes.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/peer-node.js', import.meta.url));
const SECRET = Buffer.from('linux peer transport test key 32');
const PORT = 7405;

interface Report {
  status: PeerStatus;
  bound: string[];
  problems: string[];
  silent: string[];
}

class PeerNode {
  last: Report | null = null;
  stderr = '';
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.last = JSON.parse(line) as Report;
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
  }
}

function start(ns: string, args: unknown): PeerNode {
  return new PeerNode(
    spawn('ip', ['netns', 'exec', ns, process.execPath, SCRIPT, JSON.stringify(args)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
}

const unavailable = netnsUnavailable();

(unavailable === null ? describe : describe.skip)(
  `Linux peer transport (namespaces)${unavailable === null ? '' : ` — skipped: ${unavailable}`}`,
  function () {
    this.timeout(30_000);
    let lan: VethLan | null = null;
    const nodes: PeerNode[] = [];

    before(async () => {
      lan = await createVethLan(204);
    });
    after(async () => {
      for (const n of nodes) await stopChild(n.child);
      if (lan !== null) await deleteNamespaces([lan.a, lan.b]);
    });

    it('two real sockets exchange authenticated frames; a bind before the address exists is retried', async () => {
      const l = lan!;
      // b's own address is not there yet: its socket must bind once it is.
      const lateB = '198.18.204.4';
      const members = [
        { name: 'a', lan: l.ipA, mgmt: null },
        { name: 'b', lan: lateB, mgmt: null },
      ];
      const a = start(l.a, { mode: 'agent', self: 'a', members, port: PORT, secretHex: SECRET.toString('hex') });
      const b = start(l.b, { mode: 'agent', self: 'b', members, port: PORT, secretHex: SECRET.toString('hex') });
      nodes.push(a, b);
      await waitFor(() => (b.last?.problems.length ?? 0) > 0, 5000, `b reports the missing address ${b.stderr}`);
      expect(b.last?.bound).to.deep.equal([]);
      expect(b.last?.problems[0]).to.contain('not on an interface yet');
      await run('ip', ['-n', l.b, 'address', 'add', `${lateB}/24`, 'dev', l.ifB]);
      const heard = (n: PeerNode, who: string): boolean => {
        const m = n.last?.status.members.find((x) => x.node === who);
        return m?.lan?.heardMsAgo !== null && m?.lan?.heardMsAgo !== undefined && m.lan.heardMsAgo < 200;
      };
      await waitFor(() => heard(a, 'b') && heard(b, 'a'), 5000, `both hear each other ${a.stderr}${b.stderr}`);
      expect(b.last?.bound).to.deep.equal(['lan']);
      expect(a.last?.status.accepted).to.be.above(0);
      expect(a.last?.status.dropped.unauthenticated).to.equal(0);
    });

    it('drops and counts a validly signed frame from a stranger address', async () => {
      const l = lan!;
      const a = nodes[0]!;
      const stranger = '198.18.204.9';
      await run('ip', ['-n', l.b, 'address', 'add', `${stranger}/24`, 'dev', l.ifB]);
      const frame = encodeFrame(
        {
          path: 'lan',
          from: 'b',
          to: 'a',
          nonce: new Uint8Array(NONCE_BYTES).fill(7),
          counter: 1,
          phase: 'primary',
          role: 'primary',
          epoch: 99,
          holdsPrimary: true,
          holdsMonitor: false,
        },
        PeerKey.fromSecret(SECRET),
      );
      const before = a.last?.status.dropped.stranger ?? 0;
      const sender = start(l.b, { mode: 'send', bind: stranger, to: l.ipA, port: PORT, hex: frame.toString('hex') });
      await new Promise((resolve) => sender.child.on('exit', resolve));
      await waitFor(() => (a.last?.status.dropped.stranger ?? 0) > before, 3000, 'the stranger dropped');
      // Nothing of it was believed: b still says epoch 1, spare.
      expect(a.last?.status.members[0]).to.deep.include({ node: 'b', epoch: 1, holdsPrimary: false });
      expect(a.last?.status.highest).to.deep.equal({ epoch: 1, node: 'b' });
    });

    it('a member whose sockets close goes silent after dead_after_ms', async () => {
      const [a, b] = [nodes[0]!, nodes[1]!];
      b.child.stdin.end();
      await waitFor(() => a.last?.silent.includes('b/lan') === true, 3000, 'b silent on lan');
    });
  },
);
