/**
 * The lab's managed switch: Debian's snmpd (net-snmp) in the LAN namespace, serving IF-MIB for
 * that namespace's interfaces on the switch's own address (UPLINK_ADDRESS, udp 161). A SET of
 * `ifAdminStatus` on a server's bridge port (`l-NAME`) really takes the port down or up, so
 * the server behind it loses its link: what a switch-port fence does to a real server.
 * Configured per run: a write community (the secret, in a 0600 file the agents name) and a
 * read-only one (for the tests' `auth` case).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUdpListening } from './bmc-sim.js';
import type { ManagedProcess, ProcessGroup } from './children.js';
import { exec } from './exec.js';
import { UPLINK_ADDRESS, bare } from './topology.js';
import type { LabPlan } from './topology.js';

export const SNMP_PORT = 161;

export interface SnmpdFiles {
  config: string;
  /** The write community, first line; mode 0600. */
  communityFile: string;
  /** A read-only community (a SET with it is refused noAccess). */
  readOnlyFile: string;
  persistentDir: string;
  log: string;
}

export function snmpdFiles(plan: LabPlan): SnmpdFiles {
  return {
    config: join(plan.runDir, 'snmpd.conf'),
    communityFile: join(plan.runDir, 'switch-community'),
    readOnlyFile: join(plan.runDir, 'switch-community-ro'),
    persistentDir: join(plan.runDir, 'snmpd.state'),
    log: join(plan.runDir, 'snmpd.log'),
  };
}

/** The switch's management address, as the agents reach it (the LAN bridge's own address). */
export function switchHost(): string {
  return bare(UPLINK_ADDRESS);
}

export function snmpdConfig(write: string, readOnly: string): string {
  return [
    '# hotspare lab switch (snmpd in the LAN namespace); written per run',
    `agentAddress udp:${switchHost()}:${SNMP_PORT}`,
    `rwcommunity ${write} 198.18.0.0/16`,
    `rocommunity ${readOnly} 198.18.0.0/16`,
    '',
  ].join('\n');
}

/** Writes the config and both community files (fresh random communities each run). */
export async function writeSnmpdFiles(plan: LabPlan): Promise<SnmpdFiles> {
  const files = snmpdFiles(plan);
  const write = `rw${randomBytes(8).toString('hex')}`;
  const readOnly = `ro${randomBytes(8).toString('hex')}`;
  await writeFile(files.communityFile, `${write}\n`, { mode: 0o600 });
  await chmod(files.communityFile, 0o600);
  await writeFile(files.readOnlyFile, `${readOnly}\n`, { mode: 0o600 });
  await writeFile(files.config, snmpdConfig(write, readOnly), { mode: 0o600 });
  await mkdir(files.persistentDir, { recursive: true, mode: 0o700 });
  return files;
}

/**
 * Starts snmpd in the LAN namespace (foreground, no system config, its log to a file) and
 * resolves once it listens. Its MIB-file warnings are harmless: requests use numeric OIDs.
 */
export async function startSnmpd(group: ProcessGroup, plan: LabPlan): Promise<ManagedProcess> {
  const files = snmpdFiles(plan);
  const child = group.spawn({
    name: 'switch-snmpd',
    netns: plan.lanNetns,
    pidNamespace: true,
    argv: ['env', `SNMP_PERSISTENT_DIR=${files.persistentDir}`, 'snmpd', '-f', '-Lo', '-C', '-c', files.config],
    logFile: files.log,
  });
  const pid = await child.waitInner(3000, 'snmpd');
  await waitUdpListening(pid, switchHost(), SNMP_PORT, 10_000, child);
  return child;
}

/** The ifIndex of a server's bridge port (`l-NAME`) in the switch: the kernel's ifindex there. */
export async function portIfIndex(plan: LabPlan, port: string): Promise<number> {
  const { stdout } = await exec('ip', ['-n', plan.lanNetns, '-j', 'link', 'show', 'dev', port]);
  const parsed = JSON.parse(stdout) as Array<{ ifindex?: unknown }>;
  const index = parsed[0]?.ifindex;
  if (typeof index !== 'number') throw new Error(`no ifindex for ${port} in ${plan.lanNetns}`);
  return index;
}
