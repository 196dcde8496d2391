/**
 * The releaser's side of a handover's final sync, with a fake replicator on a virtual clock:
 * a primary that becomes a spare serves its files on its own LAN peer address for the
 * monitor's windows plus sync.final_ms and a margin, then stops; leaving primary any other way
 * stops serving at once; with the final sync off nothing is served after the primary role.
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import type { Replicator, SyncResult } from '../../../src/agent/ports.js';
import type { ExecutorContext } from '../../../src/agent/context.js';
import { newCounters } from '../../../src/agent/context.js';
import { Replication } from '../../../src/agent/replication.js';
import type { Config } from '../../../src/config/index.js';
import { initialState } from '../../../src/role/index.js';
import { machine, MS } from '../role/fixtures.js';

interface Rig {
  clock: VirtualClock;
  replication: Replication;
  journal: string[];
  pulledFrom: string[];
  /** `level event` of each log line. */
  logged: string[];
}

/** `failures`: how many pulls fail (connection refused) before they succeed. */
function rig(finalSyncUs: number, selfLan: string | null = '198.18.0.11/24', failures = 0): Rig {
  const clock = new VirtualClock();
  const journal: string[] = [];
  const pulledFrom: string[] = [];
  const logged: string[] = [];
  let failing = failures;
  const replicator: Replicator = {
    serve: async (ip) => void journal.push(`serve ${ip} at ${clock.nowUs() / MS} ms`),
    stopServing: async () => void journal.push(`stop at ${clock.nowUs() / MS} ms`),
    sync: async (ip): Promise<SyncResult> => {
      pulledFrom.push(ip);
      if (failing-- > 0) throw new Error(`connect ECONNREFUSED ${ip}:7623`);
      return { skipped: false, files: 1, bytes: 46, deleted: 0 };
    },
  };
  // Only what Replication reads of the config: this node and the members' peer addresses.
  const config = {
    node: 'a',
    cluster: {
      members: [
        { name: 'a', address: selfLan, mgmtAddress: '198.18.1.21/24' },
        { name: 'b', address: '198.18.0.12/24', mgmtAddress: '198.18.1.22/24' },
      ],
    },
  } as unknown as Config;
  const mc = machine({ self: 'a', finalSyncUs });
  const x: ExecutorContext = {
    ports: { replicator, config, clock } as unknown as ExecutorContext['ports'],
    mc,
    primaryIp: '198.18.0.10',
    counters: newCounters(),
    now: () => clock.nowUs(),
    log: (level, event) => void logged.push(`${level} ${event}`),
    dispatch: () => ({ state: initialState(1), actions: [] }),
    state: () => initialState(1),
    stopped: () => false,
  };
  return { clock, replication: new Replication(x), journal, pulledFrom, logged };
}

describe('Replication: the releaser serves for the final sync', () => {
  it('primary -> spare: serves on its LAN peer address, then stops after the monitor’s windows, sync.final_ms and 1 s', async () => {
    const r = rig(2000 * MS);
    r.replication.onTransition('confirming', 'primary');
    r.replication.onTransition('primary', 'spare');
    // The fixture machine's detection window (probes every 10 ms, 3 misses, 10 ms timeout) and confirm window.
    const windowMs = 10 * 3 + 10 + machine().fencing.confirmUs / MS + 2000 + 1000;
    await r.clock.runUntil((windowMs - 1) * MS);
    expect(r.journal).to.deep.equal(['serve 198.18.0.10 at 0 ms', 'serve 198.18.0.11 at 0 ms']);
    await r.clock.runUntil((windowMs + 1) * MS);
    expect(r.journal.at(-1)).to.equal(`stop at ${windowMs} ms`);
  });

  it('becoming primary again within the window serves on the primary address, and the old deadline stops nothing', async () => {
    const r = rig(2000 * MS);
    r.replication.onTransition('confirming', 'primary');
    r.replication.onTransition('primary', 'spare');
    await r.clock.runUntil(100 * MS);
    r.replication.onTransition('confirming', 'primary');
    await r.clock.runUntil(10_000 * MS);
    expect(r.journal).to.deep.equal([
      'serve 198.18.0.10 at 0 ms',
      'serve 198.18.0.11 at 0 ms',
      'serve 198.18.0.10 at 100 ms',
    ]);
  });

  it('leaving primary for anything but spare, or with the final sync off, stops serving at once', async () => {
    const down = rig(2000 * MS);
    down.replication.onTransition('confirming', 'primary');
    down.replication.onTransition('primary', 'link-down');
    expect(down.journal).to.deep.equal(['serve 198.18.0.10 at 0 ms', 'stop at 0 ms']);
    const off = rig(0);
    off.replication.onTransition('confirming', 'primary');
    off.replication.onTransition('primary', 'spare');
    expect(off.journal).to.deep.equal(['serve 198.18.0.10 at 0 ms', 'stop at 0 ms']);
  });

  it('a releaser without a LAN peer address serves on its management address', async () => {
    const r = rig(2000 * MS, null);
    r.replication.onTransition('confirming', 'primary');
    r.replication.onTransition('primary', 'spare');
    expect(r.journal.at(-1)).to.equal('serve 198.18.1.21 at 0 ms');
  });

  it('the monitor’s final sync pulls from the releaser’s LAN peer address and says what moved', async () => {
    const r = rig(2000 * MS);
    const ended = await r.replication.finalSync('b');
    expect(r.pulledFrom).to.deep.equal(['198.18.0.12']);
    expect(ended.ok).to.equal(true);
    expect(ended.detail).to.match(/^1 file\(s\), 46 bytes, 0 deletion\(s\) from 198\.18\.0\.12 in [0-9.]+ ms$/);
    expect(await r.replication.finalSync('nobody')).to.deep.equal({
      ok: false,
      detail: 'nobody has no peer address to pull from',
    });
  });

  it('a final sync that fails is tried again every 50 ms while sync.final_ms lasts', async () => {
    const r = rig(2000 * MS, '198.18.0.11/24', 2);
    const ending = r.replication.finalSync('b');
    await r.clock.runUntil(500 * MS);
    const ended = await ending;
    expect(r.pulledFrom).to.deep.equal(['198.18.0.12', '198.18.0.12', '198.18.0.12']);
    expect(ended.ok).to.equal(true);
    expect(ended.detail).to.match(/in 100\.0 ms \(attempt 3\)$/);

    const never = rig(500 * MS, '198.18.0.11/24', 1000);
    const givingUp = never.replication.finalSync('b');
    await never.clock.runUntil(2000 * MS);
    const end = await givingUp;
    expect(end.ok).to.equal(false);
    // Tries at 0, 50, ... 450 ms: the last one starts before final_ms less one retry interval.
    expect(end.detail).to.equal('connect ECONNREFUSED 198.18.0.12:7623, after 450.0 ms and 10 attempt(s)');
    // One warning for the first failure; the nine retries only at debug.
    const failed = never.logged.filter((l) => l.endsWith(' sync-failed'));
    expect(failed).to.deep.equal(['warn sync-failed', ...Array<string>(9).fill('debug sync-failed')]);
  });
});
