import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bmcFiles, systemUuid } from './bmc-sim.js';
import { BMC_PORT, BMC_USER, MONITOR_ADDRESS, PRIMARY_ADDRESS, UPLINK_ADDRESS } from './topology.js';
import type { LabPlan, ServerPlan } from './topology.js';

/** The agent's config file, as the harness writes it (snake_case keys, absolute paths). */
export interface AgentConfigFile {
  node: string;
  board: string;
  cluster: {
    primary_address: string;
    monitor_address: string;
    uplink_address: string;
    members: Array<{
      name: string;
      mac: string;
      address?: string;
      mgmt_address?: string;
      uuid?: string;
      bmc: { host: string; port: number; username: string; password_file: string };
      isolation?: { device: 'snmp-ifmib'; host: string; port: number; community_file: string; if_index: number };
    }>;
  };
  /** The peer heartbeat; `key_file: null` turns it off. */
  peer?: { key_file: string | null; [extra: string]: unknown };
  probe: { interval_ms: number; timeout_ms: number; misses: number };
  clock: { native: 'auto' | 'on' | 'off'; realtime: number };
  fencing: { required: boolean };
  sync: { every_probes: number };
  announce: { count: number; interval_ms: number; refresh_s: number };
  state_dir: string;
  control_socket: string;
  [extra: string]: unknown;
}

export interface BoardFile {
  name: string;
  nic: string;
  serial: { device: string; baud: number };
  bmc: {
    client: 'rmcp' | 'ipmitool' | 'fence-agent' | 'redfish';
    interface: 'lanplus' | 'lan';
    cipher_suite: number;
    power_cycle: string;
    timeout_ms: number;
    retries: number;
    /** The BMC's typical time from an accepted off to the power reading off (README "Boards"). */
    power_off_ms?: number;
    fence_agent?: { name: string; options?: Record<string, string | number | boolean> };
    redfish?: { system?: string; ca_file?: string; fingerprint?: string; insecure?: boolean };
  };
  reboot: string;
  [extra: string]: unknown;
}

/** A partial object deep-merged into the generated one (arrays and scalars replace). */
export type Patch = { [key: string]: unknown };

export interface AgentPaths {
  config: string;
  board: string;
  stateDir: string;
  controlSocket: string;
  log: string;
  serialAgent: string;
  serialBmc: string;
  /** The cluster's peer heartbeat key, one per lab run (the same file for every server). */
  peerKey: string;
}

export function agentPaths(plan: LabPlan, server: ServerPlan): AgentPaths {
  return {
    config: join(plan.runDir, `config-${server.name}.yaml`),
    board: join(plan.runDir, `board-${server.name}.yaml`),
    stateDir: join(plan.runDir, `state-${server.name}`),
    controlSocket: join(plan.runDir, `${server.name}.sock`),
    log: join(plan.runDir, `agent-${server.name}.log`),
    serialAgent: join(plan.runDir, `tty-${server.name}-agent`),
    // Unique per lab: ipmi_sim locks the SOL device as /var/lock/LCK..<name> with the PID it
    // sees in its own PID namespace (1), so a lock left by an earlier lab looks alive forever.
    serialBmc: join(plan.runDir, `tty-${plan.id}-${server.name}-bmc`),
    peerKey: join(plan.runDir, 'peer.key'),
  };
}

export function agentConfig(plan: LabPlan, server: ServerPlan): AgentConfigFile {
  const paths = agentPaths(plan, server);
  return {
    node: server.name,
    board: paths.board,
    cluster: {
      primary_address: PRIMARY_ADDRESS,
      monitor_address: MONITOR_ADDRESS,
      uplink_address: UPLINK_ADDRESS,
      members: plan.servers.map((member) => ({
        name: member.name,
        mac: member.mac,
        // The servers' fixed addresses: where peer heartbeats go, on the LAN and on mgmt.
        address: member.lanAddress,
        mgmt_address: member.mgmtAddress,
        // What the member's BMC reports as its system's identity (fencing.bmc_identity).
        uuid: systemUuid(plan, member),
        bmc: {
          host: member.bmcHost,
          port: BMC_PORT,
          username: BMC_USER,
          password_file: bmcFiles(plan, member).passwordFile,
        },
      })),
    },
    probe: { interval_ms: 5, timeout_ms: 10, misses: 5 },
    // The probe core on the native clock at SCHED_FIFO 10 (children and threads start normal).
    clock: { native: 'auto', realtime: 10 },
    fencing: { required: true },
    sync: { every_probes: 100 },
    announce: { count: 3, interval_ms: 10, refresh_s: 0 },
    peer: { key_file: paths.peerKey },
    state_dir: paths.stateDir,
    control_socket: paths.controlSocket,
  };
}

export function boardFile(plan: LabPlan, server: ServerPlan): BoardFile {
  return {
    name: 'lab-netns',
    nic: 'eth0',
    serial: { device: agentPaths(plan, server).serialAgent, baud: 115200 },
    bmc: { client: 'rmcp', interface: 'lanplus', cipher_suite: 3, power_cycle: 'off-on', timeout_ms: 2000, retries: 3 },
    reboot: 'restart',
  };
}

/** Deep merge: plain objects merge, everything else (arrays, scalars, null) replaces. */
export function deepMerge<T extends object>(base: T, patch: Patch | undefined): T {
  if (patch === undefined) {
    return base;
  }
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch)) {
    const current = result[key];
    if (isPlainObject(value) && isPlainObject(current)) {
      result[key] = deepMerge(current, value);
    } else if (value !== undefined) {
      result[key] = value;
    }
  }
  return result as T;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** YAML with every string value double-quoted (MACs and addresses stay strings for any parser). */
export function toYaml(value: unknown): string {
  return stringify(value, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
}

export async function writeAgentFiles(paths: AgentPaths, config: AgentConfigFile, board: BoardFile): Promise<void> {
  const peerKey = config.peer?.key_file;
  if (typeof peerKey === 'string') {
    // One random key per lab run, written by whichever server's files come first (0600).
    await writeFile(peerKey, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      },
    );
  }
  await writeFile(paths.config, toYaml(config), { mode: 0o600 });
  await writeFile(paths.board, toYaml(board), { mode: 0o600 });
}
