/**
 * The peer heartbeat in the lab: real agents in namespaces exchange authenticated UDP
 * heartbeats on the LAN (their fixed 198.18.0.1N addresses) and on the management network
 * (198.18.1.2N). What the agents say is read with `hotspare status --json`; whether the killed
 * agent's kernel still holds its address comes from ground truth (`ip addr`). Needs root.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import type { AgentStatus } from '../../src/agent/index.js';
import { agentLog, converged, monoUs } from './fixtures.js';

const CLI = join(resolve(import.meta.dirname, '../../..'), 'dist/src/cli/main.js');
const DEAD_AFTER_MS = 1000;
/** The clean-stop tests' lab: probes every 10 ms, agents not restarted after their stop. */
const HANDOVER_LAB = {
  agentExit: 'stay' as const,
  config: {
    probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
    peer: { interval_ms: 100, dead_after_ms: DEAD_AFTER_MS },
  },
};
/** Scheduling and the status poll on a loaded machine. */
const MARGIN_MS = 1500;

async function statusJson(lab: Lab, name: string): Promise<AgentStatus | null> {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'status', '--json', '--socket', lab.get(name).paths.controlSocket],
      { timeout: 3000 },
    );
    return JSON.parse(stdout) as AgentStatus;
  } catch {
    return null;
  }
}

describe('lab: peer heartbeat (real agents, UDP on two paths)', function () {
  this.timeout(120_000);
  let lab: Lab | null = null;

  afterEach(async function () {
    if (lab !== null && this.currentTest?.state === 'failed') {
      for (const name of lab.serverNames()) {
        const tail = agentLog(lab, name)
          .filter((l) => l.event.startsWith('peer') || l.event.startsWith('monitor') || l.level === 'error')
          .slice(-8);
        console.log(`    ${name}: ${tail.map((l) => `\n      ${l.event}: ${l.message}`).join('')}`);
      }
    }
    await lab?.stop();
    lab = null;
  });

  it('three agents hear each other on both paths; a SIGKILLed monitor agent is reported silent, and the primary fences its server', async () => {
    lab = await startLab({
      agentExit: 'stay',
      config: {
        probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
        peer: { interval_ms: 100, dead_after_ms: DEAD_AFTER_MS },
        // The primary waits longer than the monitor's own fence could take: keep that short.
        fencing: { power_timeout_ms: 2000 },
      },
    });
    const l = lab;
    const before = await converged(l);
    const names = l.serverNames();
    // Every agent lists the two others as heard (within a few intervals) on lan and mgmt.
    await l.waitFor(
      async () => {
        for (const name of names) {
          const s = await statusJson(l, name);
          const members = s?.peers?.members ?? [];
          if (members.length !== names.length - 1) return null;
          for (const m of members)
            for (const path of [m.lan, m.mgmt])
              if (path === null || path.heardMsAgo === null || path.heardMsAgo > 500 || path.silent) return null;
        }
        return true;
      },
      10_000,
      'every agent hearing the others on both paths',
      100,
    );
    const sample = await statusJson(l, before.primary);
    expect(sample?.peers?.dropped.unauthenticated).to.equal(0);
    expect(sample?.peers?.members.find((m) => m.node === before.monitor)).to.deep.include({
      phase: 'monitor',
      holdsMonitor: true,
    });

    // Kill the monitor's agent: its kernel keeps answering ping and holding the address.
    const victim = before.monitor;
    const agent = l.get(victim).agent;
    if (agent === null) throw new Error(`${victim} has no agent`);
    const killedUs = monoUs();
    expect(agent.signal('SIGKILL')).to.equal(true);
    const others = names.filter((n) => n !== victim);
    const silentAtUs = await l.waitFor(
      async () => {
        for (const name of others) {
          const m = (await statusJson(l, name))?.peers?.members.find((x) => x.node === victim);
          if (m?.lan?.silent !== true || m.mgmt?.silent !== true) return null;
        }
        return monoUs();
      },
      DEAD_AFTER_MS + MARGIN_MS + 2000,
      `the others reporting ${victim} silent`,
      50,
    );
    expect((silentAtUs - killedUs) / 1000).to.be.below(DEAD_AFTER_MS + MARGIN_MS);
    const h = await l.holders();
    expect(h.monitorUp, 'the killed agent’s kernel still holds the monitor address').to.deep.equal([victim]);
    for (const name of others)
      expect(agentLog(l, name).some((x) => x.event === 'peer-silent' && x.message.includes(victim))).to.equal(true);

    // The dead-monitor rule: the primary fences the victim's server through its BMC (ground
    // truth: the lab's power log), it comes back with a fresh agent, and a monitor is back.
    const off = await l.waitFor(
      () => l.powerLog.find((p) => p.server === victim && !p.on && p.source === 'bmc' && p.requestedUs > killedUs),
      30_000,
      `the primary fencing ${victim}`,
      50,
    );
    expect(agentLog(l, before.primary).some((x) => x.event === 'monitor-agent-dead')).to.equal(true);
    const after = await converged(l, 60_000);
    expect(after.primary).to.equal(before.primary);
    expect(off.requestedUs).to.be.above(killedUs);
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });

  it('a clean stop (SIGTERM) of the primary hands over: the monitor claims without a fence, and the stopped agent logs its acknowledgement', async () => {
    lab = await startLab(HANDOVER_LAB);
    const l = lab;
    const before = await converged(l);
    const stoppedUs = monoUs();
    const exit = await l.stopAgent(before.primary);
    expect(exit?.code, 'the stopped agent’s exit code').to.equal(0);

    // The stopped agent waited for the monitor's claim and names it; it did not give up.
    const words = agentLog(l, before.primary);
    const acked = words.find((x) => x.event === 'handover-acked');
    expect(acked?.['taker'], 'handover-acked names the monitor').to.equal(before.monitor);
    expect(words.some((x) => x.event === 'handover-unacked')).to.equal(false);
    console.log(`      handover acknowledged ${String(acked?.['afterMs'])} ms after the demote`);
    // The monitor took over from the release: no fence, no BMC command to the stopped server.
    const monitorWords = agentLog(l, before.monitor);
    expect(monitorWords.some((x) => x.event === 'primary-released')).to.equal(true);
    expect(monitorWords.some((x) => x.event === 'fence-start')).to.equal(false);
    expect(l.powerLog.filter((p) => p.server === before.primary && p.requestedUs > stoppedUs)).to.deep.equal([]);
    const after = await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor ? h : null;
      },
      10_000,
      `${before.monitor} holding the primary address`,
      50,
    );
    expect(after.primary, 'the stopped server released the address').to.deep.equal([before.monitor]);
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });

  it('a clean stop whose release nobody acknowledges (the monitor agent frozen) logs handover-unacked and still exits 0 without the address', async () => {
    lab = await startLab(HANDOVER_LAB);
    const l = lab;
    const before = await converged(l);
    l.hang(before.monitor);
    const exit = await l.stopAgent(before.primary);
    expect(exit?.code, 'the stopped agent’s exit code').to.equal(0);
    const words = agentLog(l, before.primary);
    expect(words.some((x) => x.event === 'handover-acked')).to.equal(false);
    expect(words.find((x) => x.event === 'handover-unacked')?.level).to.equal('error');
    const h = await l.holders();
    expect(h.primary, 'the stopped server released the address').to.not.include(before.primary);
    // Thawed, the monitor takes over (from the release it finds queued, or with a fence):
    // one primary again, never two.
    await l.restore(before.monitor, 'hang');
    await l.waitFor(
      async () => {
        const now = await l.holders();
        return now.primaryUp.length === 1 ? now : null;
      },
      30_000,
      'a primary again after the thaw',
      50,
    );
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });
});
