/**
 * The BMC identity check in the lab: ipmi_sim answers Get System GUID with its LAN channel's
 * GUID (scripts/lab/bmc-sim.ts), and the lab's Redfish BMC reports the same system's UUID.
 * Our three clients read it (RMCP+, ipmitool, Redfish), and agents compare it with
 * members[].uuid at start: a BMC configured for the wrong member is an alarm in the log.
 * Needs root:
 *   npx mocha --no-config --timeout 120000 dist/test/lab/bmc-identity.test.js
 *
 * The BMCs are reachable only from the servers' namespaces and Node cannot enter one, so the
 * in-process clients run in a child (`ip netns exec NS node THIS_FILE --identity-child ...`).
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { identityMatches, identityText } from '../../hal/bmc/identity.js';
import type { SystemIdentity } from '../../hal/bmc/identity.js';
import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import { RedfishBmc } from '../../hal/bmc/redfish/index.js';
import { RmcpBmc } from '../../hal/bmc/rmcp.js';
import { systemUuid } from '../../scripts/lab/bmc-sim.js';
import { agentLog } from '../../scripts/lab/cluster.js';
import { exec } from '../../scripts/lab/exec.js';
import { REDFISH_PORT, placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';

const THIS_FILE = fileURLToPath(import.meta.url);

interface ChildArgs {
  client: 'rmcp' | 'redfish';
  host: string;
  username: string;
  passwordFile: string;
  caFile: string;
}

/** Child side: one identity read, printed as JSON (the GUID bytes as hex). */
async function child(args: ChildArgs): Promise<void> {
  const common = { member: 'x', host: args.host, username: args.username, passwordFile: args.passwordFile };
  let identity: SystemIdentity;
  if (args.client === 'rmcp') {
    const bmc = new RmcpBmc({ ...common, port: 623, cipherSuite: 3, timeoutMs: 3000 });
    try {
      identity = await bmc.identity();
    } finally {
      await bmc.close();
    }
  } else {
    const bmc = new RedfishBmc({
      ...common,
      port: REDFISH_PORT,
      tls: { kind: 'ca', ca: readFileSync(args.caFile, 'utf8') },
      system: null,
      timeoutMs: 3000,
    });
    try {
      identity = await bmc.identity();
    } finally {
      await bmc.close();
    }
  }
  const out =
    identity.source === 'ipmi-guid' ? { ...identity, bytes: Buffer.from(identity.bytes).toString('hex') } : identity;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1] === THIS_FILE && process.argv[2] === '--identity-child') {
  child(JSON.parse(process.argv[3] ?? '{}') as ChildArgs).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
} else {
  labTests();
}

function labTests(): void {
  const missing = existsSync('/usr/bin/ipmitool') ? null : 'ipmitool is not installed';

  describeIfAvailable("BMC identity: the lab BMCs' system GUID/UUID through every client", missing, function () {
    this.timeout(120_000);
    let lab: Lab | null = null;
    before(async () => {
      lab = await startLab({ servers: 2, agentCommand: placeholderAgent, observer: false, redfish: {} });
    });
    after(async () => {
      await lab?.stop();
    });

    async function read(l: Lab, client: ChildArgs['client'], target: string): Promise<SystemIdentity> {
      const o = l.bmcOptions(target);
      const args: ChildArgs = {
        client,
        host: o.host,
        username: o.username,
        passwordFile: o.passwordFile,
        caFile: l.redfishTls?.caFile ?? '',
      };
      const { stdout } = await exec('ip', [
        'netns',
        'exec',
        l.netnsOf('b'),
        process.execPath,
        THIS_FILE,
        '--identity-child',
        JSON.stringify(args),
      ]);
      const parsed = JSON.parse(stdout) as { source: string; bytes?: string; uuid?: string };
      return parsed.source === 'ipmi-guid'
        ? { source: 'ipmi-guid', bytes: Buffer.from(parsed.bytes ?? '', 'hex') }
        : { source: 'redfish-uuid', uuid: parsed.uuid ?? '' };
    }

    it("RMCP+, ipmitool and Redfish read a's identity, which matches a's uuid and not b's", async () => {
      const l = lab;
      if (l === null) throw new Error('lab not started');
      const expected = systemUuid(l.plan, l.get('a').plan);
      const other = systemUuid(l.plan, l.get('b').plan);
      const ipmitool = await new IpmitoolBmc(l.bmcOptions('a'), { command: l.ipmitoolCommand('b') }).identity();
      const identities = [await read(l, 'rmcp', 'a'), ipmitool, await read(l, 'redfish', 'a')];
      for (const identity of identities) {
        expect(identityMatches(identity, expected), identityText(identity)).to.equal(true);
        expect(identityMatches(identity, other), identityText(identity)).to.equal(false);
      }
      console.log(`      ${identities.map(identityText).join('; ')}; a's uuid ${expected}`);
    });
  });

  describeIfAvailable(
    'BMC identity at agent start: a member whose configured uuid is not its BMC’s is an alarm',
    missing,
    function () {
      this.timeout(120_000);
      let lab: Lab | null = null;
      after(async () => {
        await lab?.stop();
      });

      it("b's agent, told a wrong uuid for a, logs a mismatch for a and a match for c", async () => {
        lab = await startLab({
          servers: 3,
          observer: false,
          config: { fencing: { bmc_identity: 'refuse' } },
          configure: (server, config) => {
            if (server !== 'b') return config;
            const a = config.cluster.members.find((m) => m.name === 'a');
            if (a !== undefined) a.uuid = '00000000-0000-4000-8000-000000000001';
            return config;
          },
        });
        const l = lab;
        const seen = await l.waitFor(
          () => {
            const lines = agentLog(l, 'b').filter((x) => x.event.startsWith('bmc-identity'));
            return lines.length >= 2 ? lines : null;
          },
          30_000,
          "b's identity checks",
          100,
        );
        const mismatch = seen.find((x) => x.event === 'bmc-identity-mismatch');
        expect(mismatch?.level).to.equal('error');
        expect(mismatch?.message).to.contain("a's BMC: mismatch").and.contain('will not be used to fence');
        const c = seen.find((x) => x.event === 'bmc-identity' && x.message.startsWith("c's BMC"));
        expect(c?.message).to.contain('match');
        // b checked the others' BMCs, not its own (its uuid is written).
        expect(seen.some((x) => x.message.startsWith("b's BMC"))).to.equal(false);
      });
    },
  );
}
