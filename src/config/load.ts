import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../hal/errors/index.js';
import { fenceAgent, loadBoard, readYaml, redfish } from './board.js';
import { parseIpv4Cidr } from './address.js';
import type { Ipv4Cidr } from './address.js';
import { Fields } from './fields.js';
import type { Board, Config, FenceLevelConfig, LeaseWitness, Member, MemberBmc, MemberIsolation } from './types.js';

/**
 * Where boards named without a path (`board: dell-poweredge-idrac9`) are looked for: the
 * package's directory, then the boards beside this build (a checkout's `boards/`).
 */
export const BOARD_DIRS: readonly string[] = [
  '/usr/share/hotspare/boards',
  fileURLToPath(new URL('../../../boards', import.meta.url)),
];

/** What the config needs to know of the machine it is loaded on. */
export interface ConfigHost {
  /** The MAC of a network interface (lower case), or null when there is no such interface. */
  macOf?: (nic: string) => string | null;
  /** Directories searched for a board given by name. Default BOARD_DIRS. */
  boardDirs?: readonly string[];
  /**
   * Read for `hotspare witness`: `node` is not resolved (the witness is no member); the
   * config's node becomes `lease.witness.name`, which must be set.
   */
  witness?: boolean;
}

/** An interface's MAC from sysfs, or null when the interface does not exist here. */
export function sysfsMac(nic: string): string | null {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(nic)) return null;
  try {
    return readFileSync(`/sys/class/net/${nic}/address`, 'utf8').trim().toLowerCase();
  } catch {
    return null;
  }
}

/** Reads and validates a config file and its board. Every key: README "Configuration". */
export function loadConfig(path: string, host: ConfigHost = { macOf: sysfsMac }): Config {
  const file = resolve(path);
  return parseConfig(file, readYaml(file), (boardPath) => loadBoard(boardPath), host);
}

export function parseConfig(
  file: string,
  doc: unknown,
  readBoard: (path: string) => Board,
  host: ConfigHost = {},
): Config {
  const f = Fields.root(file, doc);
  const nodeField = f.string('node');
  const board = readBoard(boardFile(f, file, f.string('board'), host.boardDirs ?? BOARD_DIRS));

  const cluster = f.object('cluster', true);
  const primary = cidr(cluster, 'primary_address');
  const monitor = cidr(cluster, 'monitor_address');
  // Compared as numbers, so no spelling of the same address gets through.
  if (primary.value === monitor.value)
    cluster.fail('monitor_address', `must differ from primary_address (both are ${primary.address})`);
  // A host on the LAN that is always there (the gateway, the switch): a server that cannot
  // hear it is cut off and must neither claim an address nor fence anybody.
  const uplink = cluster.optionalString('uplink_address') === null ? null : cidr(cluster, 'uplink_address');
  if (uplink !== null && (uplink.value === primary.value || uplink.value === monitor.value))
    cluster.fail('uplink_address', `must differ from primary_address and monitor_address (it is ${uplink.address})`);
  const primaryAddress = text(primary);
  const monitorAddress = text(monitor);
  const uplinkAddress = uplink === null ? null : text(uplink);
  const members = cluster.list('members').map((m) => member(m, board.bmc.client === 'fence-agent'));
  if (members.length < 2) cluster.fail('members', `needs at least two members, got ${members.length}`);
  members.forEach((m, i) => {
    const other = members.findIndex((o) => o.name === m.name);
    if (other !== i)
      throw new ConfigError(file, `cluster.members[${i}].name`, `duplicate member name ${JSON.stringify(m.name)}`);
    const sameMac = members.findIndex((o) => o.mac === m.mac);
    if (sameMac !== i)
      throw new ConfigError(file, `cluster.members[${i}].mac`, `same MAC as cluster.members[${sameMac}]`);
  });
  let node = host.witness === true ? '' : nodeField === 'auto' ? nodeByMac(f, board, members, host) : nodeField;
  if (host.witness !== true && !members.some((m) => m.name === node))
    f.fail('node', `${JSON.stringify(node)} is not in cluster.members (${members.map((m) => m.name).join(', ')})`);
  cluster.rejectUnknown();

  const probeF = f.object('probe');
  const probe = {
    // Defaults from the false-alarm benchmark: with 1 % loss per switch port a probe is lost
    // about 2 % of the time, so 3 misses in a row came about once in 5 minutes at 100 probes/s;
    // 5 in a row at 200/s is about once in 10 months, and the 35 ms window rides out stalls.
    intervalMs: probeF.number('interval_ms', 5, { min: 1, max: 60_000 }),
    timeoutMs: probeF.number('timeout_ms', 10, { min: 1, max: 60_000 }),
    misses: probeF.number('misses', 5, { min: 1, max: 1000, integer: true }),
    engine: probeF.oneOf('engine', ['auto', 'native', 'event-loop'] as const, 'auto'),
  };
  probeF.rejectUnknown();
  if (probe.timeoutMs > 62 * probe.intervalMs)
    probeF.fail(
      'timeout_ms',
      `${probe.timeoutMs} ms is more than 62 probe intervals (${62 * probe.intervalMs} ms): at most 62 probes may be outstanding`,
    );

  const fencingF = f.object('fencing');
  const fencing = {
    required: fencingF.boolean('required', true),
    confirmMs: fencingF.number('confirm_ms', probe.timeoutMs, { min: 1, max: 60_000 }),
    retryMs: fencingF.number('retry_ms', 500, { min: 10, max: 600_000 }),
    retryMaxMs: fencingF.number('retry_max_ms', 10_000, { min: 10, max: 3_600_000 }),
    powerPollMs: fencingF.number('power_poll_ms', 20, { min: 1, max: 10_000 }),
    powerTimeoutMs: fencingF.number('power_timeout_ms', 20_000, { min: 1, max: 600_000 }),
    // Quicker status polls around the board's typical power-off time (bmc.power_off_ms); 0: none.
    powerPollQuickMs: fencingF.number('power_poll_quick_ms', 5, { min: 0, max: 10_000 }),
    // Default: 5 s, or twice the board's typical power-off time when that is longer, so a
    // working BMC is not sent its off again while it carries out the first.
    powerResendMs: fencingF.number('power_resend_ms', Math.max(5_000, 2 * (board.bmc.powerOffMs ?? 0)), {
      min: 0,
      max: 600_000,
      integer: true,
    }),
    gate: fencingF.oneOf('gate', ['confirmed', 'isolated', 'lease'] as const, 'confirmed'),
    bmcIdentity: fencingF.oneOf('bmc_identity', ['off', 'warn', 'refuse'] as const, 'warn'),
  };
  if (fencing.retryMaxMs < fencing.retryMs) fencingF.fail('retry_max_ms', 'must be at least retry_ms');
  if (fencing.powerTimeoutMs < fencing.powerPollMs) fencingF.fail('power_timeout_ms', 'must be at least power_poll_ms');
  if (
    fencingF.has('power_poll_quick_ms') &&
    fencing.powerPollQuickMs !== 0 &&
    fencing.powerPollQuickMs >= fencing.powerPollMs
  )
    fencingF.fail('power_poll_quick_ms', `must be 0 (none) or less than power_poll_ms (${fencing.powerPollMs})`);
  if (fencing.powerResendMs !== 0 && fencing.powerResendMs < fencing.powerPollMs)
    fencingF.fail('power_resend_ms', 'must be 0 (never) or at least power_poll_ms');
  fencingF.rejectUnknown();

  const syncF = f.object('sync');
  const sync = {
    everyProbes: syncF.number('every_probes', 100, { min: 1, max: 1_000_000, integer: true }),
    paths: syncF.stringList('paths'),
    port: syncF.number('port', 7623, { min: 1, max: 65535, integer: true }),
    keyFile: syncF.optionalString('key_file'),
    maxFileBytes: syncF.number('max_file_bytes', 1024 ** 3, { min: 1, integer: true }),
    maxTotalBytes: syncF.number('max_total_bytes', 10 * 1024 ** 3, { min: 1, integer: true }),
    timeoutMs: syncF.number('timeout_ms', 30_000, { min: 100, max: 3_600_000, integer: true }),
    finalMs: syncF.number('final_ms', 2000, { min: 0, max: 60_000, integer: true }),
  };
  sync.paths.forEach((p, i) => {
    if (!isAbsolute(p))
      throw new ConfigError(file, `sync.paths[${i}]`, `must be an absolute path, got ${JSON.stringify(p)}`);
  });
  if (sync.paths.length > 0 && sync.keyFile === null)
    syncF.fail('key_file', 'is required when sync.paths is set (replication is always authenticated)');
  syncF.rejectUnknown();

  const peerF = f.object('peer');
  const peerKey = peerF.optionalString('key_file');
  const peer = {
    keyFile: peerKey === null ? null : isAbsolute(peerKey) ? peerKey : resolve(dirname(file), peerKey),
    port: peerF.number('port', 7405, { min: 1, max: 65535, integer: true }),
    intervalMs: peerF.number('interval_ms', 100, { min: 10, max: 60_000, integer: true }),
    deadAfterMs: peerF.number('dead_after_ms', 1000, { min: 20, max: 3_600_000, integer: true }),
  };
  if (peer.deadAfterMs <= peer.intervalMs)
    peerF.fail('dead_after_ms', `must be more than interval_ms (${peer.intervalMs}), got ${peer.deadAfterMs}`);
  peerF.rejectUnknown();

  const leaseF = f.object('lease');
  const lease = {
    durationMs: leaseF.number('duration_ms', 100, { min: 2, max: 60_000 }),
    renewMs: leaseF.number('renew_ms', 10, { min: 1, max: 10_000 }),
    drift: leaseF.number('drift', 0.001, { min: 0.001, max: 0.5 }),
    dropMs: leaseF.number('drop_ms', 10, { min: 1, max: 10_000 }),
    witness: leaseF.has('witness') ? witness(leaseF.object('witness'), members) : null,
    thread: leaseF.oneOf('thread', ['worker', 'twins', 'event-loop'] as const, 'worker'),
  };
  leaseF.rejectUnknown();
  const leaseWitness = lease.witness;
  if (leaseWitness !== null && [primaryAddress, monitorAddress].some((a) => ip(a) === ip(leaseWitness.address)))
    leaseF.fail('witness', 'its address must be its own fixed address, not the primary or monitor address');
  if (host.witness === true) {
    if (leaseWitness === null) return leaseF.fail('witness', 'is required to run a witness: set lease.witness');
    node = leaseWitness.name;
  }
  if (fencing.gate === 'isolated' && !members.some((m) => m.isolation !== null))
    fencingF.fail('gate', 'isolated needs an isolation device: set cluster.members[].isolation (a switch port)');
  if (fencing.gate === 'lease') {
    // The timing rule only holds with renewals well inside the lease, and a majority needs a
    // third voter: with two members each would need the other, and a cut would stop both.
    if (lease.renewMs * 3 > lease.durationMs)
      leaseF.fail('renew_ms', `must be at most a third of duration_ms (${lease.durationMs}), got ${lease.renewMs}`);
    if (members.length < 3 && lease.witness === null)
      fencingF.fail(
        'gate',
        `lease needs at least 3 voters: ${members.length} members (spares vote) and no lease.witness; add a member or a witness`,
      );
    if (peer.keyFile === null) fencingF.fail('gate', 'lease needs the authenticated peer protocol: set peer.key_file');
    // Twin 1 of each member listens on the port after the peer port.
    if (lease.thread === 'twins' && peer.port === 65535)
      leaseF.fail('thread', 'twins listens on peer.port + 1: peer.port must be below 65535');
  }
  if (peer.keyFile !== null) {
    // Heartbeats go to each member's fixed address: with the protocol on, every member needs one.
    members.forEach((m, i) => {
      if (m.address === null)
        throw new ConfigError(file, `cluster.members[${i}].address`, 'is required when peer.key_file is set');
    });
  }
  members.forEach((m, i) => {
    for (const [field, value] of [
      ['address', m.address],
      ['mgmt_address', m.mgmtAddress],
    ] as const) {
      if (value === null) continue;
      const clash = members.findIndex((o) => [o.address, o.mgmtAddress].some((a) => a !== null && ip(a) === ip(value)));
      const self = [m.address, m.mgmtAddress].filter((a) => a !== null && ip(a) === ip(value)).length;
      if (clash !== i || self > 1)
        throw new ConfigError(file, `cluster.members[${i}].${field}`, `${ip(value)} is used by another member address`);
      if ([primaryAddress, monitorAddress].some((a) => ip(a) === ip(value)))
        throw new ConfigError(
          file,
          `cluster.members[${i}].${field}`,
          'must be the member’s fixed address, not the primary or monitor address',
        );
    }
  });

  const shellF = f.object('shell');
  const shellPassword = shellF.optionalString('password_file');
  const shell = {
    passwordFile:
      shellPassword === null ? null : isAbsolute(shellPassword) ? shellPassword : resolve(dirname(file), shellPassword),
  };
  shellF.rejectUnknown();

  const announceF = f.object('announce');
  const announce = {
    count: announceF.number('count', 3, { min: 0, max: 100, integer: true }),
    intervalMs: announceF.number('interval_ms', 10, { min: 0, max: 10_000 }),
    refreshS: announceF.number('refresh_s', 0, { min: 0, max: 86_400 }),
  };
  announceF.rejectUnknown();

  const bootF = f.object('boot');
  const boot = {
    jitterMs: bootF.number('jitter_ms', 200, { min: 0, max: 600_000 }),
    checkMs: bootF.number('check_ms', 50, { min: 1, max: 60_000 }),
    defendMs: bootF.number('defend_ms', 1000, { min: 0, max: 3_600_000 }),
  };
  bootF.rejectUnknown();

  const clockF = f.object('clock');
  const clock = {
    native: clockF.oneOf('native', ['auto', 'on', 'off'] as const, 'auto'),
    realtime: clockF.number('realtime', 0, { min: 0, max: 99, integer: true }),
  };
  clockF.rejectUnknown();

  const spareF = f.object('spare');
  const spare = {
    checkMs: spareF.number('check_ms', 1000, { min: 10, max: 3_600_000 }),
    jitterMs: spareF.number('jitter_ms', 500, { min: 0, max: 3_600_000 }),
  };
  spareF.rejectUnknown();

  const hooksF = f.object('hooks');
  const hooks = {
    onPrimary: hooksF.optionalString('on_primary'),
    onMonitor: hooksF.optionalString('on_monitor'),
    onSpare: hooksF.optionalString('on_spare'),
  };
  hooksF.rejectUnknown();

  let health: Config['health'] = null;
  if (f.has('health')) {
    const h = f.object('health');
    health = {
      command: h.string('command'),
      intervalMs: h.number('interval_ms', 1000, { min: 10, max: 3_600_000 }),
      fails: h.number('fails', 3, { min: 1, max: 1000, integer: true }),
    };
    h.rejectUnknown();
  }

  const logF = f.object('log');
  const log = {
    level: logF.oneOf('level', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    format: logF.oneOf('format', ['json', 'pretty', 'auto'] as const, 'auto'),
  };
  logF.rejectUnknown();

  const stateDir = absolute(f, file, 'state_dir', '/var/lib/hotspare');
  const controlSocket = absolute(f, file, 'control_socket', '/run/hotspare/control.sock');
  f.rejectUnknown();

  return {
    file,
    node,
    board,
    cluster: { primaryAddress, monitorAddress, uplinkAddress, members },
    probe,
    fencing,
    sync,
    peer,
    lease,
    shell,
    announce,
    boot,
    clock,
    spare,
    hooks,
    health,
    stateDir,
    controlSocket,
    log,
  };
}

/**
 * The board file: a path (it has a `/` or ends in .yaml/.yml; relative to the config file),
 * or a name looked up as NAME.yaml in `dirs`, first found wins.
 */
function boardFile(f: Fields, file: string, value: string, dirs: readonly string[]): string {
  if (value.includes('/') || /\.ya?ml$/.test(value)) return isAbsolute(value) ? value : resolve(dirname(file), value);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value))
    f.fail(
      'board',
      `must be a board name (letters, digits, . _ -) or a path to a board file, got ${JSON.stringify(value)}`,
    );
  for (const dir of dirs) {
    const candidate = join(dir, `${value}.yaml`);
    if (existsSync(candidate)) return candidate;
  }
  return f.fail('board', `no board named ${JSON.stringify(value)} in ${dirs.join(', ')}`);
}

/**
 * `node: auto`: this server is the member whose MAC is the board NIC's, so one image (one
 * config) serves every server of the cluster.
 */
function nodeByMac(f: Fields, board: Board, members: readonly Member[], host: ConfigHost): string {
  const mac = host.macOf?.(board.nic) ?? null;
  if (mac === null)
    return f.fail('node', `auto: this machine has no interface ${board.nic} (the board's nic) to read a MAC from`);
  const self = members.find((m) => m.mac === mac);
  if (self === undefined)
    return f.fail(
      'node',
      `auto: no member of cluster.members has ${board.nic}'s MAC ${mac} (members: ${members.map((m) => `${m.name} ${m.mac}`).join(', ')})`,
    );
  return self.name;
}

/**
 * `lease.witness`: a voter of the lease gate that is no member (`hotspare witness` on a third
 * machine), reached on the service LAN at its fixed address and the peer port. Its name and
 * address must not be a member's.
 */
function witness(w: Fields, members: readonly Member[]): LeaseWitness {
  const name = w.string('name');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name))
    w.fail('name', `must be 1-32 letters, digits, - or _, got ${JSON.stringify(name)}`);
  if (members.some((m) => m.name === name)) w.fail('name', `${JSON.stringify(name)} is a member's name`);
  const address = text(cidr(w, 'address'));
  if (members.some((m) => [m.address, m.mgmtAddress].some((a) => a !== null && ip(a) === ip(address))))
    w.fail('address', `${ip(address)} is a member's address`);
  w.rejectUnknown();
  return { name, address };
}

function member(m: Fields, boardFenceAgent: boolean): Member {
  const name = m.string('name');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name))
    m.fail('name', `must be 1-32 letters, digits, - or _, got ${JSON.stringify(name)}`);
  const mac = m.string('mac').toLowerCase();
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac))
    m.fail('mac', `must look like 02:00:00:00:00:0a, got ${JSON.stringify(mac)}`);
  const bmc = m.has('bmc') ? device(m.object('bmc'), boardFenceAgent, "the board's bmc.client") : null;
  const address = m.optionalString('address') === null ? null : text(cidr(m, 'address'));
  const mgmtAddress = m.optionalString('mgmt_address') === null ? null : text(cidr(m, 'mgmt_address'));
  const uuidText = m.optionalString('uuid');
  const uuid = uuidText === null ? null : smbiosUuid(m, uuidText);
  const isolation = m.has('isolation') ? memberIsolation(m.object('isolation')) : null;
  const fenceLevels = m.has('fence_levels') ? m.list('fence_levels').map(fenceLevel) : [];
  m.rejectUnknown();
  return { name, mac, address, mgmtAddress, bmc, uuid, isolation, fenceLevels };
}

/**
 * A power device's address and credentials (`bmc`, or a fencing level's): `plug` only where a
 * fence agent reads it. Call rejectUnknown on `b` after any fields of its own.
 */
function device(b: Fields, fenceAgentClient: boolean, client: string, reject = true): MemberBmc {
  const found: MemberBmc = {
    host: b.string('host'),
    port: b.has('port') ? b.number('port', undefined, { min: 1, max: 65535, integer: true }) : null,
    username: b.string('username'),
    passwordFile: b.string('password_file'),
    plug: b.optionalString('plug'),
  };
  if (found.plug !== null && !fenceAgentClient) b.fail('plug', `is only read with ${client} fence-agent`);
  if (found.plug !== null && /[\r\n\0]/.test(found.plug)) b.fail('plug', 'must be one line');
  if (b.has('password'))
    b.fail(
      'password',
      'passwords are not written in the config; put it in a file (mode 0600) and name it in password_file',
    );
  if (reject) b.rejectUnknown();
  return found;
}

/** `members[].uuid`: an SMBIOS UUID, 32 hex digits with or without the dashes; kept dashed and lower case. */
function smbiosUuid(m: Fields, value: string): string {
  const hex = value.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex))
    m.fail('uuid', `must be a UUID such as 4c4c4544-0042-3510-8052-b4c04f4e3832, got ${JSON.stringify(value)}`);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `members[].isolation`: the member's switch port. */
function memberIsolation(f: Fields): MemberIsolation {
  const isolation: MemberIsolation = {
    device: f.oneOf('device', ['snmp-ifmib'] as const),
    host: f.string('host'),
    port: f.number('port', 161, { min: 1, max: 65535, integer: true }),
    communityFile: f.string('community_file'),
    ifIndex: f.number('if_index', undefined, { min: 1, max: 2_147_483_647, integer: true }),
    timeoutMs: f.number('timeout_ms', 2000, { min: 10, max: 60_000, integer: true }),
  };
  if (!isAbsolute(isolation.communityFile)) f.fail('community_file', 'must be an absolute path');
  if (f.has('community'))
    f.fail('community', 'the community is a secret: put it in a file (mode 0600) and name it in community_file');
  f.rejectUnknown();
  return isolation;
}

/** `members[].fence_levels[i]`: a device after the BMC, with its own client and time limit. */
function fenceLevel(f: Fields): FenceLevelConfig {
  const client = f.oneOf('client', ['fence-agent', 'redfish', 'ipmitool'] as const);
  const timeoutMs = f.number('timeout_ms', 30_000, { min: 100, max: 600_000, integer: true });
  const fenceAgentField = fenceAgent(f, client === 'fence-agent');
  const redfishField = redfish(f, client === 'redfish');
  const found = device(f, client === 'fence-agent', 'client', false);
  f.rejectUnknown();
  return { client, timeoutMs, device: found, fenceAgent: fenceAgentField, redfish: redfishField };
}

/** An address with prefix a server can hold (see address.ts), or a ConfigError naming the field. */
function cidr(f: Fields, key: string): Ipv4Cidr {
  const parsed = parseIpv4Cidr(f.string(key));
  return typeof parsed === 'string' ? f.fail(key, parsed) : parsed;
}

/** The canonical `a.b.c.d/len` the rest of the agent works with. */
function text(address: Ipv4Cidr): string {
  return `${address.address}/${address.prefix}`;
}

function absolute(f: Fields, file: string, key: string, fallback: string): string {
  const v = f.string(key, fallback);
  return isAbsolute(v) ? v : resolve(dirname(file), v);
}

/** The address part of a CIDR string. */
export function ip(cidrAddress: string): string {
  return cidrAddress.split('/')[0] ?? cidrAddress;
}
