/**
 * Replication in the lab: real agents in network namespaces, TLS-PSK on the LAN between
 * them. All servers share this machine's filesystem, so each gets its own data directory
 * (`<work>/data-<server>/keys` and `.../db`) as its sync.paths: roots are matched by
 * position, not by absolute path. Verdicts come from the files on disk (hashes), ground-truth
 * address holders, and the agents' status over their control sockets. Needs root.
 *   npx mocha --no-config --timeout 240000 dist/test/lab/sync.test.js
 * HOTSPARE_SYNC_DEBUG=1 runs the agents at log level debug (per-pull timings: `sync-pulled`).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab, LabOptions } from '../../scripts/lab/lab.js';
import type { AgentConfigFile } from '../../scripts/lab/agent-config.js';
import { PRIMARY_ADDRESS } from '../../scripts/lab/topology.js';
import type { AgentStatus } from '../../src/agent/index.js';
import { request } from '../../src/control/client.js';
import { isTempName } from '../../src/sync/wire/temp-name.js';
import { ATTACKS } from '../fixtures/sync-attacks.js';
import { agentLog, converged, roles, sleep } from './fixtures.js';

/** HOTSPARE_SYNC_EVERY_PROBES measures another cadence (the lag test's bound follows it). */
const EVERY_PROBES = Number(process.env['HOTSPARE_SYNC_EVERY_PROBES'] ?? 10);
const INTERVAL_MS = 10;
const FAST = {
  probe: { interval_ms: INTERVAL_MS, timeout_ms: 10, misses: 3 },
  boot: { jitter_ms: 200, check_ms: 50 },
  fencing: { retry_ms: 300, retry_max_ms: 2000 },
};
const SECRET = 'lab cluster secret, 32 bytes or so';
const hostilePrimary = fileURLToPath(new URL('../unit/sync/fixtures/hostile-primary.js', import.meta.url));

type Hashes = Record<string, string>;

describe('lab: replication of key files (real agents, TLS-PSK between namespaces)', function () {
  this.timeout(240_000);
  let lab: Lab | null = null;
  let work = '';
  let keyFile = '';

  // Each test its own data directories, every root created (empty) on every server.
  beforeEach(async () => {
    work = await mkdtemp('/tmp/hs-sync-lab-');
    keyFile = join(work, 'sync.key');
    await writeFile(keyFile, `${SECRET}\n`, { mode: 0o600 });
    for (const server of ['a', 'b', 'c']) for (const root of roots(server)) await mkdir(root, { recursive: true });
  });

  afterEach(async function () {
    if (lab !== null && this.currentTest?.state === 'failed') {
      for (const name of lab.serverNames()) {
        const tail = agentLog(lab, name)
          .filter((l) => l.event.startsWith('sync') || l.event === 'transition' || l.level === 'error')
          .slice(-8);
        console.log(`    ${name}: ${tail.map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
    }
    await lab?.stop();
    lab = null;
    await rm(work, { recursive: true, force: true });
  });

  function roots(server: string): string[] {
    return [join(work, `data-${server}`, 'keys'), join(work, `data-${server}`, 'db')];
  }

  async function start(
    options: LabOptions & { keyFor?: (server: string) => string; sync?: Record<string, unknown> } = {},
  ): Promise<Lab> {
    const { keyFor, sync, ...rest } = options;
    lab = await startLab({
      ...rest,
      config: {
        ...FAST,
        ...(process.env['HOTSPARE_SYNC_DEBUG'] === '1' ? { log: { level: 'debug' } } : {}),
        sync: { every_probes: EVERY_PROBES, key_file: keyFile, timeout_ms: 5000, ...(sync ?? {}) },
      },
      configure: (server, config) => {
        const own = {
          ...config,
          sync: {
            ...config.sync,
            paths: roots(server),
            ...(keyFor === undefined ? {} : { key_file: keyFor(server) }),
          } as AgentConfigFile['sync'],
        };
        return rest.configure?.(server, own) ?? own;
      },
    });
    return lab;
  }

  async function status(l: Lab, server: string): Promise<AgentStatus> {
    return (await request(l.get(server).paths.controlSocket, 'status')) as AgentStatus;
  }

  /** Writes a file in place atomically on the primary's side too (staged, then renamed in). */
  async function put(server: string, root: number, path: string, content: Buffer | string): Promise<void> {
    const dir = roots(server)[root] ?? '';
    const stage = join(work, `stage-${randomBytes(4).toString('hex')}`);
    await writeFile(stage, content);
    await mkdir(join(dir, path, '..'), { recursive: true });
    await rename(stage, join(dir, path));
  }

  /** sha256 of every file under a server's roots, keyed `root:path`; temp files reported too. */
  async function hashes(server: string): Promise<Hashes> {
    const out: Hashes = {};
    for (const [index, root] of roots(server).entries()) {
      if (!existsSync(root)) continue;
      const walk = async (dir: string, prefix: string): Promise<void> => {
        for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
          const path = join(dir, name);
          const st = await stat(path).catch(() => null);
          if (st === null) continue; // gone since the listing (a sync is running)
          if (st.isDirectory()) await walk(path, `${prefix}${name}/`);
          else if (isTempName(name)) out[`${index}:${prefix}${name}`] = 'TEMPORARY FILE';
          else {
            const hash = await sha256(path).catch(() => null);
            if (hash !== null) out[`${index}:${prefix}${name}`] = hash;
          }
        }
      };
      await walk(root, '');
    }
    return out;
  }

  it('files written on the primary appear on the monitor within every_probes × interval plus transfer time; deletions follow; spares stay out', async () => {
    const l = await start();
    const r = await converged(l);
    const bound = EVERY_PROBES * INTERVAL_MS + 1000;
    const lags: number[] = [];
    for (let i = 0; i < 20; i++) {
      const content = `secret ${i} ${randomBytes(8).toString('hex')}\n`;
      await put(r.primary, 0, `app/key-${i}.pem`, content);
      const t0 = performance.now();
      const target = join(roots(r.monitor)[0] ?? '', `app/key-${i}.pem`);
      await l.waitFor(
        async () => (await readFile(target, 'utf8').catch(() => '')) === content,
        bound,
        `key-${i} on the monitor`,
        2,
      );
      lags.push(performance.now() - t0);
      await sleep(Math.random() * EVERY_PROBES * INTERVAL_MS);
    }
    expect(Math.max(...lags)).to.be.below(bound);
    await rm(join(roots(r.primary)[0] ?? '', 'app/key-0.pem'));
    await l.waitFor(
      () => !existsSync(join(roots(r.monitor)[0] ?? '', 'app/key-0.pem')),
      bound,
      'the deletion on the monitor',
      2,
    );
    expect(await hashes(r.monitor)).to.deep.equal(await hashes(r.primary));
    // Only the monitor pulls: a spare's roots stay as they were (empty).
    for (const spare of r.spares) expect(await hashes(spare)).to.deep.equal({});
    const monitorStatus = await status(l, r.monitor);
    expect(monitorStatus.sync.completed).to.be.above(0);
    expect(monitorStatus.sync.lastError).to.equal(null);
    expect(monitorStatus.sync.lagMs).to.be.a('number').below(2000);
    expect((await status(l, r.primary)).sync.serving).to.equal(true);
    const sorted = [...lags].sort((a, b) => a - b);
    console.log(
      `      lag at every_probes ${EVERY_PROBES} × ${INTERVAL_MS} ms: min ${sorted[0]?.toFixed(0)} median ${sorted[10]?.toFixed(0)} max ${sorted.at(-1)?.toFixed(0)} ms over ${lags.length} files`,
    );
  });

  for (const finalMs of [2000, 0])
    it(`a clean stop of the primary with sync.final_ms ${finalMs}: ${finalMs > 0 ? 'the monitor pulls the last changes from the releaser before it claims' : 'no final sync, the new primary has only what periodic syncs copied (the control)'}`, async () => {
      // No periodic sync during the test (the first would come after 100,000 answered
      // probes): whatever the new primary has came from the final sync.
      const l = await start({ agentExit: 'stay', sync: { every_probes: 100_000, final_ms: finalMs } });
      const r = await converged(l);
      // One pull by hand first, as a working monitor's periodic pulls would have done: it
      // starts the monitor's pull thread, whose start the final sync would otherwise pay.
      await request(l.get(r.monitor).paths.controlSocket, 'sync', ['now'], 10_000);
      const content = `written just before the stop ${randomBytes(8).toString('hex')}\n`;
      await put(r.primary, 1, 'state/last.db', content);
      const exit = await l.stopAgent(r.primary);
      expect(exit?.code, 'the stopped agent’s exit code').to.equal(0);
      const acked = agentLog(l, r.primary).find((x) => x.event === 'handover-acked');
      expect(acked, 'handover-acked').to.not.equal(undefined);
      const copy = join(roots(r.monitor)[1] ?? '', 'state/last.db');
      const words = agentLog(l, r.monitor);
      if (finalMs > 0) {
        expect(await readFile(copy, 'utf8').catch(() => null), 'the file on the new primary').to.equal(content);
        const pulled = words.find((x) => x.event === 'final-sync');
        expect(pulled?.message).to.match(/1 file\(s\)/);
        // The claim came after the pull: the transition to primary is logged after it.
        const claimed = words.find((x) => x.event === 'transition' && x.message.includes('-> primary'));
        expect(claimed?.atUs ?? 0).to.be.at.least(pulled?.atUs ?? Infinity);
        console.log(`      ${pulled?.message ?? ''}; acknowledged ${String(acked?.['afterMs'])} ms after the demote`);
      } else {
        console.log(`      no final sync; acknowledged ${String(acked?.['afterMs'])} ms after the demote`);
      }
      if (finalMs === 0) {
        expect(existsSync(copy), 'nothing pulled it').to.equal(false);
        expect(words.some((x) => x.event === 'final-sync' || x.event === 'final-sync-failed')).to.equal(false);
      }
      expect(words.some((x) => x.event === 'fence-start')).to.equal(false);
      expect(l.splitBrainViolations()).to.deep.equal([]);
    });

  it('the primary crashes (mid-copy if it can be caught): the new primary holds every synced file, none torn; the old primary rejoins and is overwritten', async () => {
    const l = await start({ servers: 2 });
    const before = await converged(l);
    for (let i = 0; i < 300; i++) await put(before.primary, 0, `set/file-${i}`, randomBytes(512));
    await put(before.primary, 1, 'big.db', randomBytes(20 * 1024 * 1024));
    const synced = await l.waitFor(
      async () => {
        const [p, m] = await Promise.all([hashes(before.primary), hashes(before.monitor)]);
        return JSON.stringify(p) === JSON.stringify(m) ? m : null;
      },
      20_000,
      'the first full sync',
      50,
    );
    // A new version of the big file, and the primary's power cut while the monitor copies it.
    const newBig = randomBytes(20 * 1024 * 1024);
    const newBigHash = createHash('sha256').update(newBig).digest('hex');
    await put(before.primary, 1, 'big.db', newBig);
    const dbDir = roots(before.monitor)[1] ?? '';
    const midCopy = await l
      .waitFor(async () => (await readdir(dbDir)).some(isTempName), 3000, 'a copy in progress', 1)
      .catch(() => false);
    await l.crash(before.primary);
    await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor;
      },
      15_000,
      'the monitor taking over',
    );
    await l.waitFor(async () => (await status(l, before.monitor)).sync.serving, 5000, 'the new primary serving');
    const held = await hashes(before.monitor);
    for (const [path, hash] of Object.entries(synced)) {
      const allowed = path === '1:big.db' ? [hash, newBigHash] : [hash];
      expect(allowed, `${path} on the new primary`).to.include(held[path]);
    }
    expect(Object.values(held)).not.to.include('TEMPORARY FILE');
    expect((await status(l, before.monitor)).sync.serving).to.equal(true);
    // While the old primary is down, its disk gets changes the new primary never saw.
    await put(before.primary, 0, 'set/only-on-the-old-primary', 'stale');
    await put(before.primary, 0, 'set/file-1', 'stale version');
    // The fence powers it on again; it finds the primary address taken, becomes the monitor
    // and pulls: its copy becomes the new primary's, not a merge.
    await l.waitFor(
      async () => (await roles(l))?.monitor === before.primary,
      30_000,
      'the old primary back as monitor',
      100,
    );
    const newPrimary = await hashes(before.monitor);
    await l.waitFor(
      async () => JSON.stringify(await hashes(before.primary)) === JSON.stringify(newPrimary),
      20_000,
      'the old primary overwritten by the new one',
      50,
    );
    expect(existsSync(join(roots(before.primary)[0] ?? '', 'set/only-on-the-old-primary'))).to.equal(false);
    console.log(
      `      power cut ${midCopy === true ? 'during' : 'outside'} the copy of the new big.db; the new primary has big.db at the ${held['1:big.db'] === newBigHash ? 'new' : 'old'} version`,
    );
  });

  it('the monitor agent killed in the middle of a file: the old version stays whole; after its restart the leftover goes and the new version arrives', async () => {
    const l = await start({ servers: 2 });
    const r = await converged(l);
    const oldBig = randomBytes(30 * 1024 * 1024);
    await put(r.primary, 1, 'big.db', oldBig);
    const target = join(roots(r.monitor)[1] ?? '', 'big.db');
    const oldHash = createHash('sha256').update(oldBig).digest('hex');
    await l.waitFor(
      async () => (await sha256(target).catch(() => '')) === oldHash,
      20_000,
      'the first version on the monitor',
      50,
    );
    const newBig = randomBytes(30 * 1024 * 1024);
    await put(r.primary, 1, 'big.db', newBig);
    const dbDir = roots(r.monitor)[1] ?? '';
    const midCopy = await l
      .waitFor(async () => (await readdir(dbDir)).some(isTempName), 5000, 'a copy in progress', 1)
      .catch(() => false);
    expect(l.get(r.monitor).agent?.signal('SIGKILL')).to.equal(true);
    await sleep(50);
    // Dead in the middle: the final name still holds the old, complete version.
    expect(await sha256(target)).to.equal(oldHash);
    const leftover = (await readdir(dbDir)).some(isTempName);
    // The lab restarts the agent; it boots as monitor again and pulls.
    const newHash = createHash('sha256').update(newBig).digest('hex');
    await l.waitFor(
      async () => (await sha256(target).catch(() => '')) === newHash,
      30_000,
      'the new version after the restart',
      100,
    );
    expect((await readdir(dbDir)).filter(isTempName)).to.deep.equal([]);
    console.log(
      `      killed ${midCopy === true ? 'during' : 'outside'} the copy; ${leftover ? 'a leftover temporary file was' : 'no leftover was'} there and is gone after the restart`,
    );
  });

  it('a monitor with the wrong key gets nothing; the primary logs the attempt; the key appears nowhere', async () => {
    const keys: Record<string, string> = {};
    for (const server of ['a', 'b']) {
      keys[server] = join(work, `key-${server}`);
      await writeFile(keys[server] ?? '', `${server} has its own secret, not shared\n`, { mode: 0o600 });
    }
    const l = await start({ servers: 2, keyFor: (server) => keys[server] ?? '' });
    const r = await converged(l);
    await put(r.primary, 0, 'secret.pem', 'only for the cluster');
    await l.waitFor(
      async () => (await status(l, r.monitor)).sync.failed >= 3,
      10_000,
      'failed syncs on the monitor',
      100,
    );
    const monitorStatus = await status(l, r.monitor);
    expect(monitorStatus.sync.completed).to.equal(0);
    expect(monitorStatus.sync.lastError).to.match(/sync: auth: .*cluster key/);
    expect(existsSync(join(roots(r.monitor)[0] ?? '', 'secret.pem'))).to.equal(false);
    const refused = agentLog(l, r.primary).find((line) => line.event === 'sync-refused');
    expect(refused?.message).to.match(/refused a sync connection from 198\.18\.0\.\d+: authentication failed/);
    for (const server of ['a', 'b']) {
      const log = readFileSync(l.get(server).paths.log, 'utf8');
      expect(log).not.to.include('has its own secret');
      expect(JSON.stringify(await status(l, server))).not.to.include('has its own secret');
    }
  });

  it('a hostile primary with the key: every malformed or escaping manifest is refused, nothing changes, the monitor carries on', async () => {
    const port = 7623;
    const mine = roots('b');
    await writeFile(join(mine[0] ?? '', 'keep.txt'), 'the monitor copy');
    const outside = join(work, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'victim'), 'untouched');
    const snapshot = async (): Promise<Hashes> => ({
      ...(await hashes('b')),
      outside: await sha256(join(outside, 'victim')),
      listing: (await readdir(work)).join(','),
    });
    const beforeAttacks = await snapshot();
    const l = await start({
      servers: ['a', 'b'],
      sync: { timeout_ms: 1000 },
      agentCommand: (context) =>
        context.server === 'a'
          ? [process.execPath, hostilePrimary, keyFile, PRIMARY_ADDRESS, String(port), '2']
          : realAgent(context),
      // b boots after the hostile "primary" holds the address, so b becomes the monitor.
      configure: (server, config) => (server === 'b' ? { ...config, boot: { jitter_ms: 1500, check_ms: 50 } } : config),
    });
    await l.waitFor(async () => (await l.holders()).monitorUp[0] === 'b', 15_000, 'b as monitor');
    const refusals = await l.waitFor(
      () => {
        const failures = agentLog(l, 'b')
          .filter((line) => line.event === 'sync-failed')
          .map((line) => line.message);
        const missing = ATTACKS.filter((attack) => !failures.some((text) => attack.message.test(text)));
        return missing.length === 0 ? failures : null;
      },
      60_000,
      'every attack refused by the monitor',
      200,
    );
    expect(refusals.length).to.be.at.least(ATTACKS.length);
    expect(await snapshot()).to.deep.equal(beforeAttacks);
    const h = await l.holders();
    expect(h.monitorUp).to.deep.equal(['b']);
    expect(h.primaryUp).to.deep.equal(['a']);
    expect(l.get('b').agentStarts).to.equal(1);
    expect((await status(l, 'b')).sync.failed).to.be.at.least(ATTACKS.length);
  });

  it("measures: 1,000 small files, one 100 MB file, and the monitor agent's memory meanwhile", async () => {
    const l = await start({ servers: 2 });
    const r = await converged(l);
    await sleep(500);

    // 1,000 files of 1 KiB, moved into the primary's root with one rename.
    const stage = join(work, 'stage-bulk');
    await mkdir(stage);
    const small: Hashes = {};
    for (let i = 0; i < 1000; i++) {
      const content = randomBytes(1024);
      await writeFile(join(stage, `f-${String(i).padStart(4, '0')}`), content);
      small[`0:bulk/f-${String(i).padStart(4, '0')}`] = createHash('sha256').update(content).digest('hex');
    }
    const logBefore = agentLog(l, r.monitor).length;
    await rename(stage, join(roots(r.primary)[0] ?? '', 'bulk'));
    let t0 = performance.now();
    // Polling must stay cheap (it shares the CPUs with both agents): count names, then check.
    const bulk = join(roots(r.monitor)[0] ?? '', 'bulk');
    await l.waitFor(
      async () => (await readdir(bulk).catch(() => [] as string[])).filter((name) => !isTempName(name)).length === 1000,
      60_000,
      '1,000 files on the monitor',
      5,
    );
    const smallLagMs = performance.now() - t0;
    const got = await hashes(r.monitor);
    for (const [path, hash] of Object.entries(small)) expect(got[path], path).to.equal(hash);
    const smallSyncs = agentLog(l, r.monitor)
      .slice(logBefore)
      .filter((line) => line.event === 'synced');
    const smallTookMs = smallSyncs.reduce((sum, line) => sum + Number(line['tookUs'] ?? 0), 0) / 1000;

    // 100 MB, written outside the root, then renamed in.
    const pid = l.agentPid(r.monitor);
    if (pid === null) throw new Error('no monitor agent pid');
    const bigStage = join(work, 'stage-big');
    const handle = await open(bigStage, 'w');
    const big = createHash('sha256');
    for (let i = 0; i < 100; i++) {
      const chunk = randomBytes(1024 * 1024);
      big.update(chunk);
      await handle.write(chunk);
    }
    await handle.close();
    const bigHash = big.digest('hex');
    await sleep(300);
    await writeFile(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
    const baseline = memory(pid);
    const logBeforeBig = agentLog(l, r.monitor).length;
    await rename(bigStage, join(roots(r.primary)[1] ?? '', 'big.bin'));
    t0 = performance.now();
    let peakSampled = baseline.rssKb;
    const target = join(roots(r.monitor)[1] ?? '', 'big.bin');
    await l.waitFor(
      async () => {
        peakSampled = Math.max(peakSampled, memory(pid).rssKb);
        return (await stat(target).catch(() => null))?.size === 100 * 1024 * 1024;
      },
      120_000,
      'the 100 MB file on the monitor',
      10,
    );
    const bigLagMs = performance.now() - t0;
    const after = memory(pid);
    expect(await sha256(target)).to.equal(bigHash);
    const bigSync = agentLog(l, r.monitor)
      .slice(logBeforeBig)
      .find((line) => line.event === 'synced' && Number(line['bytes'] ?? 0) >= 100 * 1024 * 1024);
    const bigTookMs = Number(bigSync?.['tookUs'] ?? NaN) / 1000;
    console.log(
      `      every_probes ${EVERY_PROBES} × interval ${INTERVAL_MS} ms (a sync asked for every ~${EVERY_PROBES * INTERVAL_MS} ms)`,
    );
    console.log(
      `      1,000 × 1 KiB: on the monitor ${smallLagMs.toFixed(0)} ms after the rename; sync(s) took ${smallTookMs.toFixed(0)} ms in ${smallSyncs.length} sync(s) (${(1000 / (smallTookMs / 1000)).toFixed(0)} files/s)`,
    );
    console.log(
      `      100 MB: on the monitor ${bigLagMs.toFixed(0)} ms after the rename; the sync took ${bigTookMs.toFixed(0)} ms (${(100 / (bigTookMs / 1000)).toFixed(1)} MB/s)`,
    );
    console.log(
      `      monitor agent memory: RSS ${(baseline.rssKb / 1024).toFixed(1)} MB before, peak ${(after.hwmKb / 1024).toFixed(1)} MB (VmHWM; sampled ${(peakSampled / 1024).toFixed(1)} MB), ${(after.rssKb / 1024).toFixed(1)} MB after`,
    );
    // Bounded memory: the 100 MB file never sits in memory (one chunk and the socket's buffers do).
    expect(after.hwmKb - baseline.rssKb).to.be.below(64 * 1024);
  });
});

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function memory(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}
