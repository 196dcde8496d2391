/**
 * The `lease` takeover gate in the lab (issue 11): real agents with `fencing.gate: lease`,
 * the Linux enforcer process, ipmi_sim BMCs that take 4 s to cut the power. A hung primary
 * agent (SIGSTOP: its kernel still answers pings) must lose the address when its lease runs
 * out, removed by its enforcer, and the monitor must claim on a majority lease long before
 * the BMC's power-off. Verdicts from ground truth: the recorded address events and the
 * BMCs' power log.
 */
import { expect } from 'chai';
import { exec } from '../../scripts/lab/exec.js';
import { startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { agentLog, converged, monoUs } from './fixtures.js';
import type { Roles } from './fixtures.js';

const PRIMARY = '198.18.0.10/24';
const CONFIG = {
  probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
  boot: { jitter_ms: 200, check_ms: 50 },
  fencing: { gate: 'lease', retry_ms: 300, retry_max_ms: 2000 },
  lease: { duration_ms: 100, renew_ms: 10, drop_ms: 20 },
};
const BMC_OFF_DELAY_MS = 4000;
/** The same with two lease threads per agent, each pinned to a CPU (`lease.thread: twins`). */
const TWINS = { ...CONFIG, lease: { ...CONFIG.lease, thread: 'twins' } };
const THREADS = [
  { config: CONFIG, title: '' },
  { config: TWINS, title: ' (lease.thread: twins)' },
];

/** Under twins, the agent's log says both lease threads started, each pinned to a CPU. */
function expectTwins(l: Lab, server: string, config: typeof CONFIG): void {
  if (config !== TWINS) return;
  const ready = agentLog(l, server)
    .filter((x) => x.event === 'lease-thread')
    .map((x) => x.message);
  expect(ready.join('\n')).to.match(/twin 0 pinned to CPU \d/);
  expect(ready.join('\n')).to.match(/twin 1 pinned to CPU \d/);
}

describe('lab: the lease gate (real agents, enforcer process, 4 s BMCs)', function () {
  this.timeout(180_000);
  let lab: Lab | null = null;

  afterEach(async function () {
    if (lab !== null && this.currentTest?.state === 'failed') {
      for (const name of lab.serverNames()) {
        const tail = agentLog(lab, name)
          .filter((l) => l.event === 'transition' || l.level === 'error' || l.event.startsWith('lease'))
          .slice(-12);
        console.log(`    ${name}: ${tail.map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
    }
    await lab?.stop();
    lab = null;
  });

  /** A lab of three agents under `config`, converged, its primary holding a lease (its log says so). */
  async function leasedLab(
    config: typeof CONFIG,
    bmcOnDuringOff: 'queue' | 'drop' = 'queue',
  ): Promise<{ l: Lab; before: Roles }> {
    const l = await startLab({ config, bmcOffDelayMs: BMC_OFF_DELAY_MS, bmcOnDuringOff });
    lab = l;
    const before = await converged(l);
    await l.waitFor(
      () => agentLog(l, before.primary).some((x) => x.event === 'lease-held'),
      10_000,
      'the primary logging its lease',
      50,
    );
    return { l, before };
  }

  /** Monotonic µs of the recorded changes of the primary address on `server`'s eth0 after `sinceUs`. */
  function changes(l: Lab, server: string, sinceUs: number, deleted: boolean): number[] {
    return l.events
      .filter(
        (e) =>
          e.kind === 'addr' &&
          e.server === server &&
          e.ifname === 'eth0' &&
          e.deleted === deleted &&
          e.address === PRIMARY &&
          e.atUs >= sinceUs,
      )
      .map((e) => e.atUs);
  }

  for (const { config, title } of THREADS)
    it(`a hung primary agent: its enforcer removes the address at the lease end, the monitor claims on a lease before the BMC cuts the power${title}`, async () => {
      const { l, before } = await leasedLab(config);
      expectTwins(l, before.primary, config);
      const hangUs = monoUs();
      l.hang(before.primary);
      const dropUs = await l.waitFor(
        () => changes(l, before.primary, hangUs, true)[0],
        10_000,
        "the enforcer removing the hung primary's address",
        20,
      );
      const claimUs = await l.waitFor(
        () => changes(l, before.monitor, hangUs, false)[0],
        15_000,
        'the monitor claiming the primary address',
        20,
      );
      // Ground truth: the hung server lost the address before the monitor claimed it, within
      // a lease and the enforcer's drop (plus the recorder's own latency) of the hang.
      expect(dropUs).to.be.below(claimUs);
      expect(dropUs - hangUs).to.be.below((100 + 20 + 200) * 1000);
      // The claim came before the BMC's power-off of the hung server (it takes 4 s).
      const off = await l.waitFor(
        () =>
          l.powerLog.find((p) => p.server === before.primary && !p.on && p.source === 'bmc' && p.requestedUs >= hangUs),
        15_000,
        'the fence of the hung primary reaching its BMC',
        50,
      );
      expect(claimUs).to.be.below(off.doneUs);
      expect(claimUs - hangUs).to.be.below(BMC_OFF_DELAY_MS * 1000);
      console.log(
        `      hang -> address removed by the enforcer ${((dropUs - hangUs) / 1000).toFixed(1)} ms, -> monitor's claim ${((claimUs - hangUs) / 1000).toFixed(1)} ms, -> BMC power off ${((off.doneUs - hangUs) / 1000).toFixed(0)} ms`,
      );
      expect(l.splitBrainViolations()).to.deep.equal([]);
      // The monitor says it claimed on a lease.
      await l.waitFor(
        () =>
          agentLog(l, before.monitor).some(
            (x) => x.event === 'transition' && x.message.includes('a majority confirmed its lease ran out'),
          ),
        10_000,
        'the monitor logging a takeover on a lease',
        50,
      );
      await l.restore(before.primary, 'hang');
      await converged(l, 60_000);
      expect(l.splitBrainViolations()).to.deep.equal([]);
    });

  for (const onDuringOff of ['queue', 'drop'] as const) {
    const bmcText =
      onDuringOff === 'queue'
        ? 'its BMC carries out an on after the off it holds'
        : 'its BMC drops an on that comes during the off, so the on waits for the power to read off';
    it(`the new primary dies while the old one's BMC is still cutting the power: back up, it powers the old one on again (${bmcText})`, async () => {
      const { l, before } = await leasedLab(CONFIG, onDuringOff);
      const hangUs = monoUs();
      l.hang(before.primary);
      // The monitor claims on the lease, then fences the hung primary (its BMC acknowledges at
      // once and cuts the power 4 s later); what it fences was saved before the fence went out.
      await l.waitFor(
        () => agentLog(l, before.monitor).find((x) => x.event === 'fence-start' && x.atUs >= hangUs),
        15_000,
        "the new primary's fence of the hung one",
        10,
      );
      await l.crash(before.monitor);
      const crashUs = monoUs();
      expect(
        l.powerLog.some((p) => p.server === before.primary && !p.on && p.requestedUs >= hangUs),
        'the old primary still powered when the new one died',
      ).to.equal(false);
      await l.powerOn(before.monitor);
      const on = await l.waitFor(
        () =>
          l.powerLog.find((p) => p.server === before.primary && p.on && p.source === 'bmc' && p.requestedUs >= crashUs),
        30_000,
        'the old primary powered on again through its BMC',
        50,
      );
      const off = l.powerLog.find((p) => p.server === before.primary && !p.on && p.requestedUs >= hangUs);
      expect(off, 'its power went off first').to.not.equal(undefined);
      expect(on.requestedUs).to.be.above(off?.requestedUs ?? Infinity);
      const restarted = agentLog(l, before.monitor).filter((x) => x.atUs >= crashUs);
      expect(
        restarted.some((x) => x.event === 'power-on-fenced' && String(x['targets']).includes(before.primary)),
      ).to.equal(true);
      if (onDuringOff === 'drop') {
        // The restarted agent came back on the same boot within fencing.power_timeout_ms of its
        // fence: it read the power until off before it sent the on.
        expect(restarted.some((x) => x.event === 'power-on-wait' && x['target'] === before.primary)).to.equal(true);
      }
      await converged(l, 60_000);
      expect(l.splitBrainViolations()).to.deep.equal([]);
    });
  }

  for (const { config, title } of THREADS)
    it(`a SIGKILLed primary agent (its kernel keeps the address): its enforcer outlives it and removes the address before the monitor claims${title}`, async () => {
      const { l, before } = await leasedLab(config);
      expectTwins(l, before.primary, config);
      const killUs = monoUs();
      // The agent alone, as a crash: the server stays powered, its other processes run on.
      expect(l.get(before.primary).agent?.signal('SIGKILL')).to.equal(true);
      const dropUs = await l.waitFor(
        () => changes(l, before.primary, killUs, true)[0],
        10_000,
        "the enforcer removing the dead agent's address",
        20,
      );
      expect(dropUs - killUs).to.be.below((100 + 20 + 200) * 1000);
      const claimUs = await l.waitFor(
        () => changes(l, before.monitor, killUs, false)[0] ?? changes(l, before.primary, dropUs, false)[0],
        15_000,
        'a server claiming the primary address again',
        20,
      );
      expect(dropUs).to.be.below(claimUs);
      console.log(
        `      kill -> address removed by the enforcer ${((dropUs - killUs) / 1000).toFixed(1)} ms, -> next claim ${((claimUs - killUs) / 1000).toFixed(1)} ms`,
      );
      await converged(l, 60_000);
      expect(l.splitBrainViolations()).to.deep.equal([]);
    });

  it("a member powered off: the holder's requests to it do not fill its peer socket, and it keeps its lease", async () => {
    const { l, before } = await leasedLab(CONFIG);
    const spare = before.spares[0];
    if (spare === undefined) throw new Error('no spare in a lab of three');
    const ns = l.netnsOf(before.primary);
    const spareIp = l.get(spare).plan.lanAddress.split('/')[0] ?? '';
    const fromUs = monoUs();
    await l.powerOff(spare, 'harness');
    // The kernel queues what is sent to a neighbour it is resolving, charged to the sending
    // socket; a dead member's entry first gets there when its old one expires (tens of
    // seconds). Deleting the entry gets it there at once: the next request starts a
    // resolution that fails after its probes, again and again.
    await exec('ip', ['-n', ns, 'neigh', 'flush', 'to', spareIp, 'dev', 'eth0']);
    /** Bytes the primary's LAN peer socket has queued to send (its send buffer's use); null: no such socket. */
    const lanIp = l.get(before.primary).plan.lanAddress.split('/')[0] ?? '';
    const queued = async (): Promise<{ used: number; size: number } | null> => {
      const out = await exec('ip', ['netns', 'exec', ns, 'ss', '-uamnH', 'src', lanIp]);
      const m = /skmem:\([^)]*\bt(\d+),tb(\d+)/.exec(out.stdout);
      return m === null ? null : { used: Number(m[1]), size: Number(m[2]) };
    };
    let worst = { used: 0, size: 1 };
    const endUs = monoUs() + 8_000_000;
    while (monoUs() < endUs) {
      const q = await queued();
      // Gone: the primary lost its lease and was fenced (the verdicts below say so).
      if (q === null) break;
      if (q.used > worst.used) worst = q;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(`      the peer socket's send queue at most ${worst.used} of ${worst.size} bytes with ${spare} down`);
    const primaryLog = agentLog(l, before.primary).filter((x) => x.atUs >= fromUs);
    expect(primaryLog.filter((x) => x.event === 'lease-lost').map((x) => x.message)).to.deep.equal([]);
    expect(worst.used, 'bytes queued on the peer socket').to.be.below(worst.size / 2);
    expect(primaryLog.some((x) => x.event === 'lease-voter-quiet' && x['member'] === spare)).to.equal(true);
    const h = await l.holders();
    expect(h.primaryUp).to.deep.equal([before.primary]);
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });

  it("a false alarm: the primary's kernel ignores pings while its lease is renewed; the monitor asks for the lease, fences nobody, and the primary keeps the address", async () => {
    // A long backoff after a refused claim: the pings are back well before a second run of
    // misses could fence at once.
    const config = { ...CONFIG, fencing: { ...CONFIG.fencing, retry_ms: 3000, retry_max_ms: 6000 } };
    const { l, before } = await leasedLab(config);
    const ns = l.netnsOf(before.primary);
    const echo = (ignore: 0 | 1) =>
      exec('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv4.icmp_echo_ignore_all=${ignore}`]);
    const fromUs = monoUs();
    await echo(1);
    try {
      await l.waitFor(
        () => agentLog(l, before.monitor).find((x) => x.event === 'primary-silent' && x.atUs >= fromUs),
        15_000,
        'the monitor asking for the lease on the unanswered probes',
        10,
      );
    } finally {
      await echo(0);
    }
    // The claim ends: the primary answered during it, or the voters refused it.
    const ended = await l.waitFor(
      () =>
        agentLog(l, before.monitor).find(
          (x) =>
            x.atUs >= fromUs &&
            (x.event === 'takeover-abandoned' || (x.event === 'lease-refused' && x['notFenced'] === before.primary)),
        ),
      15_000,
      "the monitor's claim ending with nobody fenced",
      20,
    );
    // After a refusal the monitor backs off; the primary's next answer ends that too.
    if (ended.event === 'lease-refused')
      await l.waitFor(
        () => agentLog(l, before.monitor).some((x) => x.atUs > ended.atUs && x.event === 'fence-abandoned'),
        15_000,
        'the monitor hearing the primary again during its backoff',
        20,
      );
    const monitorLog = agentLog(l, before.monitor).filter((x) => x.atUs >= fromUs);
    expect(monitorLog.filter((x) => x.event === 'fence-start' || x.event === 'primary-down')).to.deep.equal([]);
    expect(l.powerLog.filter((p) => p.server === before.primary && p.requestedUs >= fromUs)).to.deep.equal([]);
    expect(changes(l, before.primary, fromUs, true)).to.deep.equal([]);
    expect(changes(l, before.monitor, fromUs, false)).to.deep.equal([]);
    const h = await l.holders();
    expect(h.primaryUp).to.deep.equal([before.primary]);
    console.log(
      `      ${ended.event === 'takeover-abandoned' ? 'the primary answered during the claim' : 'the voters refused the claim'}, ${((ended.atUs - fromUs) / 1000).toFixed(1)} ms after pings stopped being answered; nobody fenced`,
    );
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });

  it('two servers and a witness (hotspare witness on a machine of its own): a hung primary is taken over on a lease the witness granted, before the BMC cuts the power', async () => {
    const witness = { name: 'w', address: '198.18.0.50/24' };
    const l = await startLab({
      servers: 2,
      config: { ...CONFIG, lease: { ...CONFIG.lease, witness } },
      bmcOffDelayMs: BMC_OFF_DELAY_MS,
      witness,
    });
    lab = l;
    const before = await converged(l);
    await l.waitFor(
      () => agentLog(l, before.primary).some((x) => x.event === 'lease-held' && /of 3, 2 needed/.test(x.message)),
      10_000,
      'the primary logging a lease of 2 of 3 voters',
      50,
    );
    const grantsTo = (who: string): number =>
      l
        .witnessLog()
        .split('\n')
        .filter((line) => line.includes('"witness-grant"') && line.includes(`"to":"${who}"`)).length;
    expect(grantsTo(before.primary)).to.be.at.least(1);
    const hangUs = monoUs();
    l.hang(before.primary);
    const dropUs = await l.waitFor(
      () => changes(l, before.primary, hangUs, true)[0],
      10_000,
      "the enforcer removing the hung primary's address",
      20,
    );
    const claimUs = await l.waitFor(
      () => changes(l, before.monitor, hangUs, false)[0],
      15_000,
      'the monitor claiming the primary address',
      20,
    );
    expect(dropUs).to.be.below(claimUs);
    expect(claimUs - hangUs).to.be.below(BMC_OFF_DELAY_MS * 1000);
    // Only the witness can have given the monitor its second vote: the primary is hung.
    await l.waitFor(() => grantsTo(before.monitor) > 0 || undefined, 5000, 'the witness granting the monitor', 50);
    console.log(
      `      two servers + witness: hang -> address removed ${((dropUs - hangUs) / 1000).toFixed(1)} ms, -> monitor's claim ${((claimUs - hangUs) / 1000).toFixed(1)} ms`,
    );
    expect(l.splitBrainViolations()).to.deep.equal([]);
    await l.restore(before.primary, 'hang');
    await converged(l, 60_000);
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });
});
