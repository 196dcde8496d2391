/**
 * `hotspare witness` for real: the command in one network namespace, bound to its address
 * with the cluster's config and key file; two members' lease services (real UDP sockets) in
 * the other. Either member holds a lease only with the witness's grant (2 of 3 voters), and
 * the witness grants one member at a time. Needs root.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import type { LeaseStatus } from '../../../src/lease/service.js';
import { createVethLan, deleteNamespaces, netnsUnavailable } from '../hal/fixtures/netns.js';
import type { VethLan } from '../hal/fixtures/netns.js';
import { run, stopChild, waitFor } from '../../fixtures/processes.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const MEMBER = fileURLToPath(new URL('../hal/fixtures/lease-member.js', import.meta.url));
const PORT = 7406;
const LEASE = { duration_ms: 100, renew_ms: 10, drift: 0.001, drop_ms: 10 };
/** Q = (L + d_drop)·(1+ρ). */
const Q_MS = (LEASE.duration_ms + LEASE.drop_ms) * (1 + LEASE.drift);

class Member {
  last: { status: LeaseStatus; events: string[] } | null = null;
  stderr = '';
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.last = JSON.parse(line) as Member['last'];
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
  }
  held(): boolean {
    return this.last?.status.holder?.held === true && (this.last.status.holder.msLeft ?? 0) > 0;
  }
}

/** The witness's JSON log lines (event and message) so far. */
function logged(out: string): Array<{ event: string; message: string }> {
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { event: string; message: string });
}

const unavailable = netnsUnavailable();

(unavailable === null ? describe : describe.skip)(
  `hotspare witness (namespaces)${unavailable === null ? '' : ` — skipped: ${unavailable}`}`,
  function () {
    this.timeout(30_000);
    let lan: VethLan | null = null;
    let dir = '';
    const children: ChildProcessWithoutNullStreams[] = [];
    let witnessOut = '';

    before(async () => {
      lan = await createVethLan(206);
      dir = mkdtempSync(join(tmpdir(), 'hotspare-witness-'));
    });
    after(async () => {
      for (const c of children) await stopChild(c);
      if (lan !== null) await deleteNamespaces([lan.a, lan.b]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('grants one member at a time over real UDP with the cluster key; the other gets it once the first stops renewing', async () => {
      const l = lan!;
      // Members a and b both live in namespace b (two addresses on its veth); the witness in namespace a.
      const addressA = l.ipB;
      const addressB = '198.18.206.3';
      await run('ip', ['-n', l.b, 'address', 'add', `${addressB}/24`, 'dev', l.ifB]);
      const keyFile = join(dir, 'peer.key');
      writeFileSync(keyFile, 'WitnessTestPeerKey-0123456789\n', { mode: 0o600 });
      const doc = parse(readFileSync(join(ROOT, 'examples/hotspare.yaml'), 'utf8')) as Record<string, any>;
      doc['board'] = join(ROOT, 'boards/lab-netns.yaml');
      doc['node'] = 'auto';
      doc['cluster']['members'] = doc['cluster']['members'].slice(0, 2);
      doc['cluster']['members'][0]['address'] = `${addressA}/24`;
      doc['cluster']['members'][1]['address'] = `${addressB}/24`;
      for (const m of doc['cluster']['members']) {
        m.bmc.password_file = join(dir, `bmc-${m.name}.pass`);
        writeFileSync(m.bmc.password_file, 'not used here\n');
        chmodSync(m.bmc.password_file, 0o600);
      }
      doc['peer'] = { ...doc['peer'], key_file: keyFile, port: PORT };
      doc['fencing'] = { ...(doc['fencing'] ?? {}), gate: 'lease' };
      doc['lease'] = { ...LEASE, witness: { name: 'w', address: `${l.ipA}/24` } };
      // Debug: the witness logs each frame it drops (`lease-drop`), which the second test waits for.
      doc['log'] = { level: 'debug', format: 'json' };
      const config = join(dir, 'hotspare.yaml');
      writeFileSync(config, stringify(doc));

      const witness = spawn('ip', ['netns', 'exec', l.a, process.execPath, CLI, 'witness', '--config', config], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(witness);
      witness.stdout.on('data', (c: Buffer) => (witnessOut += c.toString('utf8')));
      witness.stderr.on('data', (c: Buffer) => (witnessOut += c.toString('utf8')));
      await waitFor(() => witnessOut.includes('peer-bound'), 10_000, `the witness binds ${witnessOut}`);
      const startedMs = performance.now();

      const voters = [
        { name: doc['cluster']['members'][0]['name'], lan: addressA, mgmt: null },
        { name: doc['cluster']['members'][1]['name'], lan: addressB, mgmt: null },
        { name: 'w', lan: l.ipA, mgmt: null },
      ];
      const member = (self: string, epoch: number): Member => {
        const args = {
          self,
          voters,
          port: PORT,
          keyFile,
          epoch,
          durationMs: LEASE.duration_ms,
          renewMs: LEASE.renew_ms,
        };
        const child = spawn('ip', ['netns', 'exec', l.b, process.execPath, MEMBER, JSON.stringify(args)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        children.push(child);
        return new Member(child);
      };
      const [nameA, nameB] = [voters[0]!.name, voters[1]!.name];
      const a = member(nameA, 1);
      await waitFor(() => a.held(), 10_000, `a holds a lease ${a.stderr} ${JSON.stringify(a.last)} ${witnessOut}`);
      // The witness was quiet for Q after it started, then granted: a's own vote and the witness's.
      expect(performance.now() - startedMs).to.be.at.least(Q_MS);
      expect(a.last?.events[0]).to.match(/held: granted by .*w.* \(2 of 3, 2 needed\)/);

      // b asks at a higher epoch while a renews: the witness has promised a, so b gets no majority.
      const b = member(nameB, 2);
      await waitFor(() => (b.last?.status.holder ?? null) !== null, 10_000, `b asks ${b.stderr}`);
      await new Promise((r) => setTimeout(r, 500));
      expect(b.held(), 'b holds a lease while a renews with the witness').to.equal(false);
      expect(a.held()).to.equal(true);
      const refusals = logged(witnessOut).filter((l) => l.event === 'witness-refusal');
      expect(refusals.map((r) => r.message).join('\n')).to.match(
        new RegExp(`refusing ${nameB}'s lease at epoch 2: promised to ${nameA}`),
      );

      // a stops renewing (its process ends): once the witness's promise ran out, b holds.
      a.child.stdin.end();
      const stoppedMs = performance.now();
      await waitFor(() => b.held(), 10_000, `b holds a lease after a stopped ${JSON.stringify(b.last)}`);
      expect(performance.now() - stoppedMs).to.be.at.least(Q_MS - 20);
      expect(b.last?.events.some((e) => /held: granted by .*w/.test(e))).to.equal(true);
      // The witness's log line reaches us through its stdout pipe, after its grant reached b.
      const grantLines = (): Array<{ message: string }> =>
        logged(witnessOut).filter((l) => l.event === 'witness-grant');
      await waitFor(() => grantLines().length >= 2, 5000, `the witness logging b's grant ${witnessOut}`);
      const grants = grantLines();
      expect(grants.map((g) => g.message)).to.deep.equal([
        `granting ${nameA}'s lease at epoch 1`,
        `granting ${nameB}'s lease at epoch 2`,
      ]);
      expect(witnessOut).to.not.contain('WitnessTestPeerKey');
    });

    it('drops a lease request signed with another key, and stops on SIGTERM with its counts', async () => {
      const l = lan!;
      const keyFile = join(dir, 'other.key');
      writeFileSync(keyFile, 'SomeOtherClusterKey-0123456789\n', { mode: 0o600 });
      const voters = [
        { name: 'a', lan: '198.18.206.4', mgmt: null },
        { name: 'w', lan: l.ipA, mgmt: null },
      ];
      await run('ip', ['-n', l.b, 'address', 'add', '198.18.206.4/24', 'dev', l.ifB]);
      const args = { self: 'a', voters, port: PORT, keyFile, epoch: 9, durationMs: 100, renewMs: 10 };
      const child = spawn('ip', ['netns', 'exec', l.b, process.execPath, MEMBER, JSON.stringify(args)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(child);
      const m = new Member(child);
      // Its requests reach the witness once its socket is bound (retried while the address is
      // new): wait for the witness to log a dropped frame from it.
      await waitFor(
        () => logged(witnessOut).some((l) => l.event === 'lease-drop' && l.message.includes('198.18.206.4')),
        10_000,
        `the witness dropping a frame from 198.18.206.4 ${m.stderr}`,
      );
      expect(m.held()).to.equal(false);
      m.child.stdin.end();
      const witness = children[0]!;
      const exit = new Promise<number | null>((r) => witness.on('exit', (code) => r(code)));
      // `ip netns exec` execs the command: the child's PID is the witness's.
      witness.kill('SIGTERM');
      expect(await exit).to.equal(0);
      const stopped = logged(witnessOut).find((l) => l.event === 'witness-stopped');
      expect(stopped?.message).to.match(
        /^SIGTERM: stopping \([1-9][0-9]* grants, [1-9][0-9]* refusals, [1-9][0-9]* frames dropped\)$/,
      );
    });
  },
);
