/**
 * Fencing levels with real agents: every member's level 1 is its ipmi_sim through RMCP+ with a
 * wrong password (the BMC refuses the session), level 2 the same server's lab Redfish BMC
 * through our Redfish client. The primary's cable is cut; the monitor's fence fails at level 1,
 * fences at level 2, and takes over once the power is really off. Needs root:
 *   npx mocha --no-config --timeout 120000 dist/test/lab/fence-levels.test.js
 */
import { expect } from 'chai';
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { agentLog, converged } from '../../scripts/lab/cluster.js';
import { monoUs } from '../../scripts/lab/exec.js';
import { REDFISH_PORT, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { BMC_USER } from '../../scripts/lab/topology.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';

const missing = process.getuid?.() === 0 ? null : 'needs root (network namespaces)';

describeIfAvailable('lab: fencing levels (BMC refused, then a Redfish level) with real agents', missing, function () {
  this.timeout(120_000);
  let lab: Lab | null = null;
  after(async () => {
    await lab?.stop();
  });

  it('the monitor fails level 1 (auth), fences at level 2, takes over after the power is off; each attempt logged', async () => {
    lab = await startLab({
      servers: 3,
      observer: false,
      redfish: {},
      configure: (_server, config) => {
        // The run directory holds the peer key; the lab's CA and BMC passwords are beside it.
        const runDir = dirname(String(config.peer?.key_file ?? ''));
        const wrong = join(runDir, 'wrong-bmc.pass');
        writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
        chmodSync(wrong, 0o600);
        for (const member of config.cluster.members) {
          const right = member.bmc.password_file;
          member.bmc = { ...member.bmc, password_file: wrong };
          (member as Record<string, unknown>)['fence_levels'] = [
            {
              client: 'redfish',
              host: member.bmc.host,
              port: REDFISH_PORT,
              username: BMC_USER,
              password_file: right,
              redfish: { ca_file: join(runDir, 'redfish-ca.pem') },
              timeout_ms: 10_000,
            },
          ];
        }
        return config;
      },
    });
    const l = lab;
    const { primary, monitor } = await converged(l);
    const cutUs = monoUs();
    await l.cut(primary);
    await l.waitFor(
      async () => {
        const h = await l.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === monitor;
      },
      40_000,
      'the monitor holding the primary address',
    );
    const offs = l.powerLog.filter((p) => p.server === primary && !p.on && p.commandUs > cutUs);
    expect(offs, JSON.stringify(l.powerLog)).to.have.length.at.least(1);
    const claim = l.events.find(
      (e) =>
        e.server === monitor && e.kind === 'addr' && e.address === '198.18.0.10/24' && !e.deleted && e.atUs > cutUs,
    );
    expect(claim?.atUs ?? 0).to.be.above(offs[0]?.requestedUs ?? Infinity);
    await l.waitFor(
      () => agentLog(l, monitor).some((x) => x.event === 'fence-done' && x.atUs > cutUs),
      10_000,
      'fence-done in the monitor log',
      50,
    );
    const lines = agentLog(l, monitor).filter((x) => x.event.startsWith('fence') && x.atUs > cutUs);
    const attempts = lines.filter((x) => x.event === 'fence-attempt');
    expect(attempts.map((x) => [x['fenceLevel'], x['ok']])).to.deep.equal([
      [1, false],
      [2, true],
    ]);
    expect(attempts[0]?.message).to.contain('auth');
    expect(lines.some((x) => x.event === 'fence-level-failed')).to.equal(true);
    const done = lines.find((x) => x.event === 'fence-done');
    expect(done?.message).to.contain('level 2 (redfish ');
    expect(JSON.stringify(lines)).to.not.contain('not-the-password');
    console.log(`      ${attempts.map((x) => x.message).join('\n      ')}`);
  });
});
