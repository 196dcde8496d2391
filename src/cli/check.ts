import { constants, accessSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { quickPolls } from '../agent/index.js';
import { loadConfig } from '../config/index.js';
import { sysfsMac } from '../config/load.js';
import { PeerKey } from '../peer/index.js';
import { SyncKey } from '../sync/wire/psk.js';
import type { Config } from '../config/index.js';
import { redactSecretPaths, secretFileModeProblems, secretFileProblems } from './secret-files.js';

export interface CheckOptions {
  /**
   * Also check this machine: the board's NIC exists and its MAC is this server's in
   * cluster.members (`hotspare check` does; `--no-host` for a config meant for another machine).
   */
  host?: boolean;
  /** The MAC of an interface, or null when it does not exist. Default: sysfs. */
  macOf?: (nic: string) => string | null;
  /** How many CPUs this process may run on (with `host`). Default: its affinity mask's. */
  cpus?: () => number;
}

/** Validates a config and its board and describes what the agent would do. Throws on errors. */
export function checkConfig(
  path: string,
  options: CheckOptions = {},
): { config: Config; report: string[]; warnings: string[] } {
  const macOf = options.macOf ?? sysfsMac;
  const config = loadConfig(path, { macOf });
  const warnings: string[] = [];
  const powerOffMs = config.board.bmc.powerOffMs;
  if (powerOffMs !== null && config.fencing.powerTimeoutMs < 2 * powerOffMs)
    warnings.push(
      `fencing.power_timeout_ms (${config.fencing.powerTimeoutMs}) is less than twice the board's typical power-off time (bmc.power_off_ms ${powerOffMs} in ${config.board.file}): a slow power-off would count as a failed fence`,
    );
  if (config.lease.witness !== null && config.fencing.gate !== 'lease')
    warnings.push(
      `lease.witness is set but fencing.gate is ${config.fencing.gate}: the witness is asked only under the lease gate`,
    );
  const resendMs = config.fencing.powerResendMs;
  if (powerOffMs !== null && resendMs !== 0 && resendMs <= powerOffMs)
    warnings.push(
      `fencing.power_resend_ms (${resendMs}) is not more than the board's typical power-off time (bmc.power_off_ms ${powerOffMs} in ${config.board.file}): a fence would send its off again while the BMC is still carrying out the first`,
    );
  if (config.fencing.required && config.peer.keyFile === null)
    warnings.push(
      'fencing.required is true but peer.key_file is not set: a server booting with a persisted primary role claims a silent primary address without a fence, so a holder behind a silent switch port makes two primaries until the address defence settles it (README "Known limits"); set peer.key_file',
    );
  if (config.sync.paths.length > 0 && config.sync.finalMs > 0 && config.peer.keyFile === null)
    warnings.push(
      'sync.final_ms has no effect without peer.key_file: a handover (and so its final sync) is recognised only from the authenticated heartbeat',
    );
  for (const member of config.cluster.members) {
    if (member.bmc === null && config.fencing.required && member.name !== config.node)
      warnings.push(
        `cluster.members: ${member.name} has no bmc; with fencing.required this server can never be fenced, so never taken over from`,
      );
  }
  // The checks `run` makes before it starts: secret files are readable regular files, 0600
  // or stricter. Messages name the field, never the path (it may be a password typed there).
  const problems = [...secretFileProblems(config), ...secretFileModeProblems(config)];
  problems.push(...bmcClientProblems(config));
  if (options.host === true) problems.push(...hostProblems(config, macOf));
  if (config.sync.keyFile !== null && problems.every((p) => !p.includes(': sync.key_file: '))) {
    try {
      SyncKey.fromFile(config.sync.keyFile);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      problems.push(`${config.file}: sync.key_file: ${redactSecretPaths(message, config)}`);
    }
  }
  if (config.peer.keyFile !== null && problems.every((p) => !p.includes(': peer.key_file: '))) {
    // The same check `run` makes: a regular file, 0600 or stricter, at least 16 bytes.
    try {
      PeerKey.fromFile(config.peer.keyFile);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      problems.push(`${config.file}: peer.key_file: ${redactSecretPaths(message, config)}`);
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const p = config.probe;
  const detectMs = p.intervalMs * p.misses + p.timeoutMs;
  const report = [
    `config ${config.file}: valid`,
    `board ${config.board.file}: ${config.board.name} (${config.board.description || 'no description'})`,
    `this server: ${config.node} on interface ${config.board.nic}, reboot mode ${config.board.reboot}`,
    `primary address ${config.cluster.primaryAddress}, monitor address ${config.cluster.monitorAddress}`,
    `members: ${config.cluster.members.map((m) => `${m.name} (${m.mac}${m.bmc === null ? ', no BMC' : `, BMC ${m.bmc.host}${m.bmc.port === null ? '' : `:${m.bmc.port}`}${m.bmc.plug === null ? '' : ` plug ${m.bmc.plug}`}`})`).join('; ')}`,
    `at boot: read the role from ${config.stateDir}/role.json (primary if none), wait up to ${config.boot.jitterMs} ms, check the role's address for ${config.boot.checkMs} ms, claim it if silent`,
    `as monitor: probe ${config.cluster.primaryAddress} every ${p.intervalMs} ms; ${p.misses} misses of ${p.timeoutMs} ms declare it down after about ${detectMs} ms`,
    `then: fence the holder through its BMC (${describeClient(config)}, ${config.board.bmc.powerCycle}; after the BMC acknowledges, read its power every ${config.fencing.powerPollMs} ms${describeQuickPolls(config)} until off, for at most ${config.fencing.powerTimeoutMs} ms, ${config.fencing.powerResendMs === 0 ? 'never sending the command again' : `sending the command again each ${config.fencing.powerResendMs} ms it still reads on`}), ${config.fencing.required ? 'and take over only if the fence succeeds' : 'and take over even if the fence fails (fencing.required: false)'}; confirm silence for ${config.fencing.confirmMs} ms; claim and announce (${config.announce.count} gratuitous ARP)`,
    takeoverGate(config),
    ...fencingLevelsReport(config),
    `probe clock: native ${config.clock.native}, ${config.clock.realtime === 0 ? 'normal scheduler' : `SCHED_FIFO ${config.clock.realtime}`}; probe engine ${config.probe.engine}${config.probe.engine === 'event-loop' ? '' : ' (a native thread when the prober addon is built)'}`,
    config.peer.keyFile === null
      ? 'peer heartbeat: off (peer.key_file not set)'
      : `peer heartbeat: every ${config.peer.intervalMs} ms to every member on UDP port ${config.peer.port} (${config.cluster.members
          .filter((m) => m.name !== config.node)
          .map((m) => `${m.name} at ${m.address ?? '-'}${m.mgmtAddress === null ? '' : ` and ${m.mgmtAddress}`}`)
          .join(
            '; ',
          )}), authenticated with HMAC-SHA256; a path without a heartbeat for ${config.peer.deadAfterMs} ms counts as silent; a primary fences the server of a monitor silent on every path whose address still answers`,
    `sync every ${config.sync.everyProbes} answered probes; health check ${config.health === null ? 'none' : `\`${config.health.command}\` every ${config.health.intervalMs} ms, ${config.health.fails} failures give up the primary address`}`,
    `control socket ${config.controlSocket}${config.board.serial.device === null ? '' : `; console ${config.board.serial.device} at ${config.board.serial.baud} baud`}`,
  ];
  if (options.host === true) {
    report.push(`this machine: ${config.board.nic} has ${macOf(config.board.nic) ?? '?'}, ${config.node}'s MAC`);
    const cpus = (options.cpus ?? availableParallelism)();
    // Twins pin one thread to each of two CPUs; the agent runs on the same mask as `check`.
    if (config.fencing.gate === 'lease' && config.lease.thread === 'twins' && cpus < 2)
      warnings.push(
        `lease.thread is twins but this machine lets the agent run on ${cpus} CPU: both lease threads would share it, and a stop of that CPU loses the lease (README "Takeover gates", twin lease threads)`,
      );
  }
  return { config, report, warnings };
}

/**
 * This machine against the config: the board's NIC must exist (the agent holds the cluster
 * addresses there) and carry this member's MAC (the monitors fence by it).
 */
function hostProblems(config: Config, macOf: (nic: string) => string | null): string[] {
  const nic = config.board.nic;
  const mac = macOf(nic);
  if (mac === null) return [`${config.board.file}: nic: this machine has no interface ${nic}`];
  const self = config.cluster.members.find((m) => m.name === config.node);
  if (self !== undefined && self.mac !== mac)
    return [
      `${config.file}: cluster.members: ${config.node}'s mac is ${self.mac}, but ${nic} here has ${mac}; the monitors would fence the wrong server or none`,
    ];
  return [];
}

/** The fence's quick polls in words (`` every 5 ms from 2900 to 6100 ms after it``), or nothing. */
function describeQuickPolls(config: Config): string {
  const quick = quickPolls(config.board.bmc.powerOffMs, config.fencing.powerPollQuickMs, config.fencing.powerPollMs);
  return quick === null
    ? ''
    : ` (every ${quick.pollMs} ms from ${quick.fromMs} to ${quick.toMs} ms after it, around the board's bmc.power_off_ms ${config.board.bmc.powerOffMs ?? '?'})`;
}

/** The BMC client in words, for the report. */
function describeClient(config: Config): string {
  const bmc = config.board.bmc;
  switch (bmc.client) {
    case 'rmcp':
      return `in-process RMCP+ session, cipher suite ${bmc.cipherSuite}`;
    case 'ipmitool':
      return `ipmitool ${bmc.interface}, cipher suite ${bmc.cipherSuite}`;
    case 'fence-agent':
      return `fence agent ${bmc.fenceAgent?.name ?? '?'} per command${Object.keys(bmc.fenceAgent?.options ?? {}).length === 0 ? '' : ` with ${Object.keys(bmc.fenceAgent?.options ?? {}).join(', ')}`}`;
    case 'redfish':
      return `in-process Redfish session, certificate ${bmc.redfish?.caFile !== null && bmc.redfish?.caFile !== undefined ? `checked against ${bmc.redfish.caFile}` : bmc.redfish?.fingerprint != null ? 'pinned by SHA-256 fingerprint' : 'NOT checked (insecure: true)'}`;
  }
}

/**
 * What `run` would trip over for the board's client and each member's fencing levels: a fence
 * agent not installed, a CA file not readable.
 */
function bmcClientProblems(config: Config): string[] {
  const bmc = config.board.bmc;
  const problems = clientProblems(config.board.file, 'bmc', bmc.client, bmc.fenceAgent, bmc.redfish);
  config.cluster.members.forEach((member, i) =>
    member.fenceLevels.forEach((level, j) =>
      problems.push(
        ...clientProblems(
          config.file,
          `cluster.members[${i}].fence_levels[${j}]`,
          level.client,
          level.fenceAgent,
          level.redfish,
        ),
      ),
    ),
  );
  return problems;
}

function clientProblems(
  file: string,
  field: string,
  client: string,
  fenceAgent: { name: string } | null,
  redfish: { caFile: string | null } | null,
): string[] {
  if (client === 'fence-agent' && fenceAgent !== null) {
    const name = fenceAgent.name;
    const candidates = name.startsWith('/')
      ? [name]
      : (process.env['PATH'] ?? '').split(':').map((dir) => join(dir, name));
    const found = candidates.some((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return statSync(candidate).isFile();
      } catch {
        return false;
      }
    });
    if (!found)
      return [
        `${file}: ${field}.fence_agent.name: ${name} is not installed or not executable (Debian: apt-get install fence-agents)`,
      ];
  }
  if (client === 'redfish' && redfish?.caFile != null) {
    try {
      accessSync(redfish.caFile, constants.R_OK);
    } catch (error) {
      return [
        `${file}: ${field}.redfish.ca_file: cannot read ${redfish.caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      ];
    }
  }
  return [];
}

/** The takeover gate, and under `lease` the timing rule's numbers (README "Takeover gates"). */
function takeoverGate(config: Config): string {
  const g = config.fencing.gate;
  if (g === 'confirmed') return 'takeover gate: confirmed (claim after the power reads off, then the [0013] silence)';
  if (g === 'isolated')
    return "takeover gate: isolated (claim once the holder's switch port reads cut, or its power off; members without an isolation device: the power)";
  const l = config.lease;
  const q = (l.durationMs + l.dropMs) * (1 + l.drift);
  const voters = config.cluster.members.length + (l.witness === null ? 0 : 1);
  const witness = l.witness === null ? '' : `, the witness ${l.witness.name} at ${l.witness.address} among them`;
  const thread =
    l.thread === 'worker'
      ? 'lease service on its own thread, with the peer sockets and the enforcer'
      : l.thread === 'twins'
        ? `lease service on two threads pinned to two CPUs that renew one lease (twins; the second on port ${config.peer.port + 1}), with the peer sockets and the enforcer`
        : "lease service on the agent's event loop";
  return `takeover gate: lease (the primary holds the address only under a lease granted by ${Math.floor(voters / 2) + 1} of ${voters} voters${witness}, renewed every ${l.renewMs} ms, L ${l.durationMs} ms; a voter's promise and the quiet period after a start: (L + ${l.dropMs} ms)·(1+${l.drift}) = ${q.toFixed(2)} ms; ${thread})`;
}

/** Per member: its fencing levels after the BMC, its switch port, its UUID for the BMC identity check. */
function fencingLevelsReport(config: Config): string[] {
  const lines: string[] = [];
  for (const m of config.cluster.members) {
    const levels = m.fenceLevels.map(
      (level, j) =>
        `level ${j + 2}: ${level.client === 'fence-agent' ? (level.fenceAgent?.name ?? 'fence agent') : level.client} ${level.device.host}${level.device.port === null ? '' : `:${level.device.port}`}${level.device.plug === null ? '' : ` plug ${level.device.plug}`} within ${level.timeoutMs} ms`,
    );
    if (levels.length > 0)
      lines.push(
        `fencing levels of ${m.name}: level 1: its BMC; ${levels.join('; ')} (each tried when the one before failed)`,
      );
    if (m.isolation !== null)
      lines.push(
        `isolation of ${m.name}: switch ${m.isolation.host}:${m.isolation.port} ifIndex ${m.isolation.ifIndex} (SNMP IF-MIB ifAdminStatus), read back within ${m.isolation.timeoutMs} ms`,
      );
  }
  const bmcIdentity = config.fencing.bmcIdentity;
  if (bmcIdentity !== 'off') {
    const known = config.cluster.members.filter((m) => m.uuid !== null || m.name === config.node).map((m) => m.name);
    lines.push(
      `BMC identity at start (${bmcIdentity}): each BMC's system GUID/UUID against the member's uuid (${known.length === 0 ? 'none given' : known.join(', ')}; this server's own from /sys/class/dmi/id/product_uuid)${bmcIdentity === 'refuse' ? '; a mismatch refuses fencing through that BMC' : '; a mismatch is an alarm'}`,
    );
  }
  return lines;
}
