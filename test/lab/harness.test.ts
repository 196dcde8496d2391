/**
 * The lab harness itself, with a placeholder agent (`sleep infinity`). Needs root, ip, ipmi_sim,
 * ipmitool and socat. Run explicitly (the default mocha config leaves dist/test/lab out):
 *   npx mocha --no-config dist/test/lab/harness.test.js
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import { ip, monoUs } from '../../scripts/lab/exec.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';
import { listNetns } from '../../scripts/lab/netns.js';
import { isSameLiveProcess, readProcStat } from '../../scripts/lab/proc-stat.js';
import { allNetns } from '../../scripts/lab/topology.js';

const run = promisify(execFile);

interface Tracked {
  pid: number;
  startTime: number;
  name: string;
}

/** Every process the lab owns right now: wrappers and the programs inside PID namespaces. */
function trackedProcesses(lab: Lab): Tracked[] {
  const tracked: Tracked[] = [];
  for (const member of lab.group.live()) {
    tracked.push({ pid: member.pid, startTime: member.startTime, name: member.name });
    if (member.innerPid !== null && member.innerStartTime !== null) {
      tracked.push({ pid: member.innerPid, startTime: member.innerStartTime, name: `${member.name} (program)` });
    }
  }
  return tracked;
}

/** Processes whose parent is this process (mocha), from /proc. */
function ourChildren(): number[] {
  const text = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

async function ipmitool(lab: Lab, from: string, target: string, operation: string): Promise<string> {
  const options = lab.bmcOptions(target);
  const { stdout } = await run(
    'ip',
    [
      'netns',
      'exec',
      lab.netnsOf(from),
      'ipmitool',
      '-I',
      'lanplus',
      '-C',
      '3',
      '-H',
      options.host,
      '-p',
      String(options.port),
      '-U',
      options.username,
      '-f',
      options.passwordFile,
      '-N',
      '1',
      '-R',
      '1',
      'chassis',
      'power',
      operation,
    ],
    { timeout: 10_000 },
  );
  return stdout.trim();
}

describe('lab harness (network namespaces, ipmi_sim, observer)', function () {
  this.timeout(120_000);
  let lab: Lab | null = null;
  let childrenBefore: number[] = [];

  before(async function () {
    childrenBefore = ourChildren();
    lab = await startLab({ agentCommand: placeholderAgent });
  });

  after(async function () {
    await lab?.stop();
  });

  function current(): Lab {
    if (lab === null) {
      throw new Error('lab not started');
    }
    return lab;
  }

  it('creates the namespaces, with short names derived from the run id', async () => {
    const l = current();
    const names = await listNetns();
    for (const netns of allNetns(l.plan)) {
      expect(names).to.include(netns);
    }
    expect(l.netnsOf('a')).to.equal(`hs${l.id}-a`);
    expect(l.plan.lanNetns).to.equal(`hs${l.id}-lan`);
  });

  it('gives every server its fixed MAC, LAN and management address, and its own TTL', async () => {
    const l = current();
    const expected: Array<[string, string, string, string, number]> = [
      ['a', '02:00:00:00:00:0a', '198.18.0.11/24', '198.18.1.21/24', 65],
      ['b', '02:00:00:00:00:0b', '198.18.0.12/24', '198.18.1.22/24', 66],
      ['c', '02:00:00:00:00:0c', '198.18.0.13/24', '198.18.1.23/24', 67],
    ];
    const holders = await l.holders();
    for (const [name, mac, lan, mgmt, ttl] of expected) {
      const netns = l.netnsOf(name);
      const eth0 = JSON.parse((await ip('-n', netns, '-j', 'addr', 'show', 'dev', 'eth0')).stdout) as Array<{
        address: string;
      }>;
      expect(eth0[0]?.address).to.equal(mac);
      expect(holders.servers[name]).to.deep.equal({ linkUp: true, portUp: true, addresses: [lan] });
      expect((await ip('-n', netns, '-o', '-4', 'addr', 'show', 'dev', 'eth1')).stdout).to.contain(mgmt);
      const { stdout } = await run('ip', ['netns', 'exec', netns, 'sysctl', '-n', 'net.ipv4.ip_default_ttl']);
      expect(Number(stdout.trim())).to.equal(ttl);
    }
    expect(holders.primary).to.deep.equal([]);
    expect(holders.monitor).to.deep.equal([]);
  });

  it('writes config and board files for every server', () => {
    const l = current();
    const server = l.get('a');
    const config = readFileSync(server.paths.config, 'utf8');
    expect(config).to.contain('primary_address: "198.18.0.10/24"');
    expect(config).to.contain('mac: "02:00:00:00:00:0c"');
    expect(config).to.contain(`password_file: "${l.get('c').bmcFiles.passwordFile}"`);
    expect(readFileSync(server.paths.board, 'utf8')).to.contain(`device: "${server.paths.serialAgent}"`);
    expect(statSync(server.bmcFiles.passwordFile).mode & 0o777).to.equal(0o600);
    expect(existsSync(server.paths.serialAgent)).to.equal(true);
  });

  it('answers `ipmitool chassis power status` from server b to the BMC of a', async () => {
    expect(await ipmitool(current(), 'b', 'a', 'status')).to.equal('Chassis Power is on');
  });

  it('powers a off through ipmitool: agent killed, eth0 down and empty; on again restarts the agent', async () => {
    const l = current();
    const agent = l.get('a').agent;
    const oldPid = l.agentPid('a');
    expect(oldPid).to.be.a('number');
    const oldStart = agent?.innerStartTime ?? -1;

    expect(await ipmitool(l, 'b', 'a', 'off')).to.equal('Chassis Power Control: Down/Off');
    // The agent gets SIGKILL before the BMC answers, but on a loaded machine it can take a
    // moment to die: wait for that (a power-off that never kills it times out here).
    await l.waitFor(() => !isSameLiveProcess(oldPid ?? -1, oldStart), 5000, 'agent a killed');
    const off = await l.holders();
    expect(off.servers['a']).to.deep.equal({ linkUp: false, portUp: true, addresses: [] });
    expect(await ipmitool(l, 'c', 'a', 'status')).to.equal('Chassis Power is off');
    expect(l.agentPid('a')).to.equal(null);

    expect(await ipmitool(l, 'b', 'a', 'on')).to.equal('Chassis Power Control: Up/On');
    const newPid = await l.waitFor(() => l.agentPid('a'), 5000, 'agent a restarted');
    expect(newPid).to.not.equal(oldPid);
    expect(l.get('a').agentStarts).to.equal(2);
    const on = await l.holders();
    expect(on.servers['a']).to.deep.equal({ linkUp: true, portUp: true, addresses: ['198.18.0.11/24'] });
    expect(await ipmitool(l, 'b', 'a', 'status')).to.equal('Chassis Power is on');
  });

  it('power cycle through ipmitool: off, then on about a second later by ipmi_sim', async () => {
    const l = current();
    const before = l.powerLog.length;
    expect(await ipmitool(l, 'c', 'b', 'cycle')).to.equal('Chassis Power Control: Cycle');
    await l.waitFor(() => l.powerLog.length >= before + 2 && l.isPowered('b'), 5000, 'b back on');
    const [off, on] = l.powerLog.slice(before);
    expect(off?.on).to.equal(false);
    expect(on?.on).to.equal(true);
    const pauseMs = ((on?.requestedUs ?? 0) - (off?.doneUs ?? 0)) / 1000;
    expect(pauseMs).to.be.within(500, 3000);
    await l.waitFor(() => l.agentPid('b'), 5000, 'agent b restarted');
  });

  it('the observer records replies from whoever holds the primary address, told apart by TTL', async () => {
    const l = current();
    const observer = l.observer;
    expect(observer).to.not.equal(null);
    if (observer === null) {
      return;
    }
    const startedUs = monoUs();
    await ip('-n', l.netnsOf('c'), 'addr', 'add', '198.18.0.10/24', 'dev', 'eth0');
    const first = await observer.waitForReply(() => true, 5000, startedUs);
    expect(l.serverByTtl(first.ttl)).to.equal('c');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const replies = observer.repliesSince(first.t);
    // At 1 ms we expect hundreds of replies in 0.5 s (fewer on a loaded machine).
    expect(replies.length).to.be.greaterThan(100);
    expect(replies.every((reply) => reply.ttl === 67)).to.equal(true);
    expect((await l.holders()).primary).to.deep.equal(['c']);
    const gap = observer.outage(first.t);
    expect(gap.gapUs).to.be.lessThan(200_000);
  });

  it('records address changes and reports two holders on usable links as a split brain', async () => {
    const l = current();
    expect(l.splitBrainViolations()).to.deep.equal([]);
    await ip('-n', l.netnsOf('a'), 'addr', 'add', '198.18.0.10/24', 'dev', 'eth0');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await ip('-n', l.netnsOf('a'), 'addr', 'del', '198.18.0.10/24', 'dev', 'eth0');
    await l.waitFor(
      () => l.events.some((e) => e.server === 'a' && e.kind === 'addr' && e.deleted && e.address === '198.18.0.10/24'),
      3000,
      'delete recorded',
    );
    const violations = l.splitBrainViolations();
    expect(violations).to.have.length(1);
    expect(violations[0]?.servers).to.deep.equal(['a', 'c']);
    const durationMs = ((violations[0]?.endUs ?? 0) - (violations[0]?.startUs ?? 0)) / 1000;
    expect(durationMs).to.be.within(50, 2000);
  });

  it('cut: the server loses carrier on eth0 and the observer loses it; restore brings both back', async () => {
    const l = current();
    const observer = l.observer;
    if (observer === null) {
      throw new Error('no observer');
    }
    await l.cut('c');
    const cutUs = monoUs();
    // The switch port is down at once, so c no longer counts as a usable holder.
    const atCut = await l.holders();
    expect(atCut.servers['c']?.portUp).to.equal(false);
    expect(atCut.primary).to.deep.equal(['c']);
    expect(atCut.primaryUp).to.deep.equal([]);
    // The carrier change reaches the server's eth0 through linkwatch (up to ~1 s later).
    await l.waitFor(async () => !(await l.holders()).servers['c']?.linkUp, 3000, 'c without carrier');
    const before = observer.replies.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(observer.repliesSince(cutUs + 50_000)).to.have.length(0);
    expect(observer.replies.length - before).to.be.lessThan(5);
    await l.restore('c', 'cut');
    await l.waitFor(async () => (await l.holders()).servers['c']?.linkUp, 3000, 'c carrier back');
    await observer.waitForReply((reply) => reply.ttl === 67, 5000, monoUs());
    expect(l.splitBrainViolations()).to.have.length(1);
    // (That a holder with its switch port down does not count is covered without timing in
    // test/lab/units.test.ts, findViolations.)
  });

  it('hang stops the agent (state T) and restore continues it', async () => {
    const l = current();
    const pid = l.agentPid('b');
    l.hang('b');
    // Signal delivery is asynchronous: wait for the state to show it.
    await l.waitFor(() => readProcStat(pid ?? -1)?.state === 'T', 2000, 'agent b stopped');
    await l.restore('b');
    await l.waitFor(() => readProcStat(pid ?? -1)?.state !== 'T', 2000, 'agent b continued');
    expect(l.agentPid('b')).to.equal(pid);
  });

  it('bmc-down: the BMC does not answer (the driver times out); restore brings it back', async () => {
    const l = current();
    const bmc = new IpmitoolBmc(l.bmcOptions('c', 1500), { command: l.ipmitoolCommand('a') });
    l.bmcDown('c');
    const error = await bmc.status().then(
      () => null,
      (e: unknown) => e as { kind?: string },
    );
    expect(error?.kind).to.be.oneOf(['timeout', 'unreachable']);
    await l.restore('c');
    expect(await bmc.status()).to.equal('on');
  });

  it('crash powers the server off without the BMC; restore powers it on', async () => {
    const l = current();
    await ip('-n', l.netnsOf('a'), 'addr', 'add', '198.18.0.9/24', 'dev', 'eth0');
    expect((await l.holders()).monitor).to.deep.equal(['a']);
    await l.crash('a');
    const holders = await l.holders();
    expect(holders.monitor).to.deep.equal([]);
    expect(holders.servers['a']?.linkUp).to.equal(false);
    expect(await ipmitool(l, 'b', 'a', 'status')).to.equal('Chassis Power is off');
    await l.restore('a');
    expect((await l.holders()).servers['a']).to.deep.equal({
      linkUp: true,
      portUp: true,
      addresses: ['198.18.0.11/24'],
    });
    await l.waitFor(() => l.agentPid('a'), 5000, 'agent a back');
  });

  it('stop() leaves no namespace, no child process and no run directory, and can be called twice', async () => {
    const l = current();
    const tracked = trackedProcesses(l);
    expect(tracked.length).to.be.greaterThan(10);
    const namespaces = allNetns(l.plan);
    await l.stop();
    await l.stop();
    const left = await listNetns();
    for (const netns of namespaces) {
      expect(left).to.not.include(netns);
    }
    for (const process of tracked) {
      expect(isSameLiveProcess(process.pid, process.startTime), `${process.name} (${process.pid})`).to.equal(false);
      // Not even a zombie: reaped.
      const stat = readProcStat(process.pid);
      expect(stat === null || stat.startTime !== process.startTime, `${process.name} reaped`).to.equal(true);
    }
    expect(ourChildren().filter((pid) => !childrenBefore.includes(pid))).to.deep.equal([]);
    expect(existsSync(l.runDir)).to.equal(false);
  });

  it('a failure during start removes everything created so far', async () => {
    const before = new Set(await listNetns());
    let runDir = '';
    const error = await startLab({
      servers: 2,
      observer: false,
      agentCommand: (context) => {
        runDir = context.runDir;
        throw new Error('no agent today');
      },
    }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.message).to.equal('no agent today');
    expect(runDir).to.not.equal('');
    // Only this lab's namespaces (hs<id>-*): another lab may run beside the tests.
    const id = basename(runDir);
    const after = (await listNetns()).filter((netns) => !before.has(netns) && netns.startsWith(`hs${id}-`));
    expect(after).to.deep.equal([]);
    expect(existsSync(runDir)).to.equal(false);
    expect(ourChildren().filter((pid) => !childrenBefore.includes(pid))).to.deep.equal([]);
  });
});
