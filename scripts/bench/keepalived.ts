/**
 * keepalived (Debian package, 2.2.7) as the lab's "agent": one VRRP instance per server on
 * eth0, the same primary address, the same namespaces. Run in the foreground as a child of
 * the harness (`-n`), VRRP only (`-P`), logging to the console (`-l -D`, into the lab's
 * agent log), with its own pid files per server so that instances never collide.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentCommand } from '../lab/lab.js';
import { PRIMARY_ADDRESS } from '../lab/topology.js';

export interface KeepalivedVariant {
  /** Name in the results: `keepalived-default`, `keepalived-fast`. */
  name: string;
  vrrpVersion: 2 | 3;
  /** Seconds; VRRPv2 takes whole seconds, VRRPv3 down to 0.01 (2.2.7 refuses less). */
  advertInt: number;
}

/** keepalived's defaults: VRRPv2, one advertisement a second. */
export const KEEPALIVED_DEFAULT: KeepalivedVariant = { name: 'keepalived-default', vrrpVersion: 2, advertInt: 1 };
/** The fastest setting 2.2.7 accepts: VRRPv3, advert_int 0.01 (0.005 is refused: "outside range [0.010000, 255.000000]"). */
export const KEEPALIVED_FAST: KeepalivedVariant = { name: 'keepalived-fast', vrrpVersion: 3, advertInt: 0.01 };

/** Priorities by server position: the first server is the preferred master. */
export function priorityOf(index: number): number {
  return Math.max(1, 200 - 50 * index);
}

/**
 * One server's config. Every server starts as BACKUP with `nopreempt`, so the highest
 * priority wins the first election and a server that comes back after a crash stays backup
 * (as our old primary comes back as monitor): one outage per crash, nothing else.
 */
export function keepalivedConfig(variant: KeepalivedVariant, server: string, index: number): string {
  const global = [`  router_id hs_${server}`];
  if (variant.vrrpVersion === 3) global.push('  vrrp_version 3');
  return `# hotspare benchmark: ${variant.name} on server ${server}
global_defs {
${global.join('\n')}
}
vrrp_instance VI_HS {
  state BACKUP
  nopreempt
  interface eth0
  virtual_router_id 51
  priority ${priorityOf(index)}
  advert_int ${variant.advertInt}
  virtual_ipaddress {
    ${PRIMARY_ADDRESS} dev eth0
  }
}
`;
}

export interface KeepalivedFiles {
  config: string;
  pid: string;
  vrrpPid: string;
}

export function keepalivedFiles(runDir: string, server: string): KeepalivedFiles {
  return {
    config: join(runDir, `keepalived-${server}.conf`),
    pid: join(runDir, `keepalived-${server}.pid`),
    vrrpPid: join(runDir, `keepalived-vrrp-${server}.pid`),
  };
}

/** The lab's agent command that runs keepalived with a config written for this server. */
export function keepalivedAgent(variant: KeepalivedVariant, serverNames: readonly string[]): AgentCommand {
  return ({ server, runDir }) => {
    const index = serverNames.indexOf(server);
    const files = keepalivedFiles(runDir, server);
    writeFileSync(files.config, keepalivedConfig(variant, server, index < 0 ? serverNames.length : index), {
      mode: 0o600,
    });
    // A power loss leaves the pid files behind; the new keepalived (PID 1 of a fresh PID
    // namespace, like the old one) would read them as "daemon is already running".
    rmSync(files.pid, { force: true });
    rmSync(files.vrrpPid, { force: true });
    return ['keepalived', '-n', '-l', '-D', '-P', '-f', files.config, '-p', files.pid, '-r', files.vrrpPid];
  };
}

export type VrrpState = 'MASTER' | 'BACKUP' | 'FAULT' | null;

/** The last VRRP state keepalived logged since its latest start (the lab marks starts with `=== lab: agent start`). */
export function lastVrrpState(log: string): VrrpState {
  const start = log.lastIndexOf('=== lab: agent start');
  const since = start < 0 ? log : log.slice(start);
  let state: VrrpState = null;
  for (const match of since.matchAll(/Entering (MASTER|BACKUP|FAULT) STATE/g)) {
    state = match[1] as VrrpState;
  }
  return state;
}
