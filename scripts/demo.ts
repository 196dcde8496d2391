/**
 * `make demo`: a 3-server lab in network namespaces with real agents and ipmi_sim BMCs.
 * Shows the roles, cuts the primary's power, shows the monitor fencing it and taking over,
 * and the old primary coming back; then tears everything down (also on failure or Ctrl-C).
 */
import { request } from '../src/control/index.js';
import type { AgentStatus } from '../src/agent/index.js';
import { agentLog, converged, roles } from './lab/cluster.js';
import { monoUs } from './lab/exec.js';
import { startLab } from './lab/lab.js';
import type { Lab } from './lab/lab.js';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function showRoles(lab: Lab, title: string): Promise<void> {
  const h = await lab.holders();
  say(`\n${title}`);
  for (const name of lab.serverNames()) {
    let agent = 'agent not running';
    try {
      const s = (await request(lab.get(name).paths.controlSocket, 'status', [], 2000)) as AgentStatus;
      const rtt = s.rttUs.median === null ? '' : `, probe RTT median ${s.rttUs.median} µs`;
      agent = `agent says ${s.phase} (epoch ${s.epoch})${rtt}`;
    } catch {
      // powered off or booting
    }
    const addrs = (h.servers[name]?.addresses ?? []).filter(
      (a) => a.startsWith('198.18.0.10/') || a.startsWith('198.18.0.9/'),
    );
    say(
      `  ${name}: ${lab.isPowered(name) ? 'powered' : 'OFF'}; holds ${addrs.length === 0 ? 'no cluster address' : addrs.join(', ')}; ${agent}`,
    );
  }
}

async function main(): Promise<void> {
  say('hotspare demo: 3 servers (a, b, c) in network namespaces, one ipmi_sim BMC each, a 1 ms observer.');
  say('primary address 198.18.0.10, monitor address 198.18.0.9; probes every 10 ms, 3 misses, off-on fencing.');
  const lab = await startLab({ log: () => {} });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\ntearing the lab down...');
    await lab.stop();
    say('done: no namespaces or processes left.');
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const before = await converged(lab, 30_000);
    await showRoles(
      lab,
      `booted together; converged: ${before.primary} primary, ${before.monitor} monitor, ${before.spares.join(', ')} spare`,
    );

    await lab.observer?.waitForReply(() => true, 5000, monoUs());
    say(`\n*** cutting the power of the primary, ${before.primary} ***`);
    const crashUs = monoUs();
    await lab.crash(before.primary);
    await lab.waitFor(
      async () => {
        const h = await lab.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor;
      },
      15_000,
      'takeover',
    );
    const reply = await lab.observer?.waitForReply((r) => lab.serverByTtl(r.ttl) === before.monitor, 5000, crashUs);
    const gap = lab.observer?.outage(crashUs - 100_000, (reply?.t ?? monoUs()) + 1);
    say(
      `the observer's pings went unanswered for ${((gap?.gapUs ?? 0) / 1000).toFixed(1)} ms; now ${before.monitor} answers.`,
    );
    say(`what ${before.monitor} logged:`);
    for (const l of agentLog(lab, before.monitor).filter(
      (x) =>
        x.atUs >= crashUs &&
        [
          'primary-silent',
          'primary-down',
          'fence-start',
          'fence-done',
          'checked',
          'address-assigned',
          'announced',
          'power-on',
        ].includes(x.event),
    )) {
      say(`  +${((l.atUs - crashUs) / 1000).toFixed(1).padStart(7)} ms  ${l.event}: ${l.message}`);
    }
    await showRoles(lab, 'after the takeover:');

    say(`\nwaiting for ${before.primary} to boot again (the new primary powered it on through its BMC)...`);
    await lab.waitFor(
      async () => {
        const r = await roles(lab);
        return r !== null && lab.isPowered(before.primary) && lab.get(before.primary).agent !== null ? r : null;
      },
      30_000,
      'old primary back',
    );
    const after = await converged(lab, 30_000);
    await showRoles(
      lab,
      `settled again: ${after.primary} primary, ${after.monitor} monitor, ${after.spares.join(', ')} spare`,
    );
    const violations = lab.splitBrainViolations();
    say(
      `\nsplit-brain check over the whole run (address and link events): ${violations.length === 0 ? 'never two primaries' : JSON.stringify(violations)}`,
    );
    if (violations.length > 0) process.exitCode = 1;
  } catch (error) {
    process.exitCode = 1;
    say(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await stop();
  }
}

void main();
