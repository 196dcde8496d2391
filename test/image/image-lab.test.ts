/**
 * The booted-image lab, short version (`make image-demo` has the whole story): three Debian
 * 12 images with the hotspare .deb installed boot under systemd-nspawn as the lab's servers;
 * their units become active (READY), the agents converge, the primary's power is cut and the
 * monitor takes over, announced and answering the observer; the old primary boots again
 * and rejoins. Needs root, mmdebstrap, systemd-nspawn, journalctl, dpkg-deb and ipmi_sim;
 * the first run builds the root filesystem (under a minute, cached in
 * /var/cache/hotspare-image) and, when dist/hotspare_latest.deb is missing or older than the
 * build, the package (gzip: seconds).
 */
import { expect } from 'chai';
import { Terminal, sleep } from '../fixtures/terminal.js';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Lab } from '../../scripts/lab/lab.js';
import { repoRoot } from '../../scripts/lab/paths.js';
import {
  converged,
  cutPrimary,
  journal,
  readyTiming,
  run,
  startImageLab,
  waitAllActive,
  waitRejoined,
} from '../../scripts/image-lab/image-lab.js';
import { describeIfAvailable } from '../fixtures/prerequisites.js';

const exec = promisify(execFile);
const TOOLS = [
  '/usr/bin/mmdebstrap',
  '/usr/bin/systemd-nspawn',
  '/usr/bin/journalctl',
  '/usr/bin/dpkg-deb',
  '/usr/bin/ipmi_sim',
];
const absent = TOOLS.filter((tool) => !existsSync(tool));
const missing =
  process.getuid?.() !== 0
    ? 'root (namespaces, nspawn)'
    : absent.length > 0
      ? `${absent.join(', ')} (make setup installs them)`
      : null;

/** dist/hotspare_latest.deb, built again (gzip, fast) when missing or older than the build. */
async function freshDeb(): Promise<string> {
  const root = repoRoot();
  const deb = join(root, 'dist', 'hotspare_latest.deb');
  const built = statSync(join(root, 'dist', 'src', 'cli', 'run.js')).mtimeMs;
  if (!existsSync(deb) || statSync(deb).mtimeMs < built)
    await exec(join(root, 'packaging', 'build-package.sh'), [], {
      cwd: root,
      env: { ...process.env, DEB_COMPRESSION: 'gzip' },
      timeout: 600_000,
    });
  return deb;
}

describeIfAvailable('booted-image lab: the .deb in three systemd-nspawn containers', missing, function () {
  this.timeout(600_000);
  let lab: Lab | null = null;

  before(async () => {
    const deb = await freshDeb();
    lab = (await startImageLab({ deb })).lab;
  });
  after(async () => {
    await lab?.stop();
  });

  function current(): Lab {
    if (lab === null) throw new Error('lab not started');
    return lab;
  }

  it('boots: hotspare.service active (READY) in every container, the agents converge', async () => {
    const l = current();
    await waitAllActive(l);
    const roles = await converged(l, 60_000, 2000);
    expect(roles.spares).to.have.length(1);
    for (const server of l.serverNames()) {
      const t = await readyTiming(l, server);
      console.log(`      ${server}: container start -> agent started ${t.toExecMs} ms, -> READY ${t.toReadyMs} ms`);
      expect(t.toReadyMs).to.be.above(t.toExecMs);
    }
    // The agent in the image says its version and runs under the unit's capabilities only.
    const status = await run(l, roles.primary, ['hotspare', 'status']);
    expect(status).to.match(/hotspare \d+\.\d+\.\d+/);
    const caps = await run(l, roles.primary, [
      'sh',
      '-c',
      'grep CapEff /proc/$(systemctl show -p MainPID --value hotspare)/status',
    ]);
    // CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_SYS_NICE (23): 0x803000.
    expect(caps.trim()).to.match(/CapEff:\s+0+803000$/);
  });

  it('the console: ipmitool sol activate reaches the shell of the agent in the container', async () => {
    const l = current();
    const roles = await converged(l, 60_000, 1000);
    const o = l.bmcOptions(roles.monitor);
    const ipmitool = [
      ...l.ipmitoolCommand(roles.monitor),
      '-I',
      'lanplus',
      '-C',
      '3',
      '-H',
      o.host,
      '-p',
      String(o.port),
      '-U',
      o.username,
      '-f',
      o.passwordFile,
      'sol',
      'activate',
    ];
    // In a pty, as an operator would: wait for the session, Enter, the prompt, status, ~. to leave.
    const terminal = new Terminal(ipmitool, { pty: true });
    try {
      await terminal.expect(/SOL Session operational/, 0, 'SOL session', 30_000);
      let from = terminal.mark();
      terminal.type('\r');
      await terminal.expect(
        new RegExp(`hotspare ${roles.monitor} monitor> $`),
        from,
        'console prompt over SOL',
        30_000,
      );
      from = terminal.mark();
      terminal.type('status\r');
      await terminal.expect(/phase\s+monitor/, from, 'status over SOL', 30_000);
      terminal.type('\r~.');
      const code = await Promise.race([terminal.exited, sleep(10_000).then(() => 'timeout' as const)]);
      expect(code, 'ipmitool ends on ~.').to.equal(0);
    } finally {
      await terminal.stop();
    }
  });

  it('the primary power cut: the monitor takes over; the old primary boots and rejoins', async () => {
    const l = current();
    const before = await converged(l, 60_000, 2000);
    const failover = await cutPrimary(l, before);
    console.log(`      ${JSON.stringify(failover)}`);
    expect(failover.newPrimary).to.equal(before.monitor);
    expect(failover.outageMs).to.be.below(2000);
    // The takeover was logged to the journal with the fields an operator filters on.
    const transitions = await journal(l, before.monitor, ['EVENT=transition', 'ROLE=primary']);
    expect(transitions.length).to.be.above(0);
    await waitRejoined(l, before.primary);
    expect(l.splitBrainViolations()).to.deep.equal([]);
  });
});
