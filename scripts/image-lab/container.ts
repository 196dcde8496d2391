/**
 * One lab server as a booted Debian image: the lab's agent command becomes
 * `systemd-nspawn --boot` of the image, joined to the server's network namespace, with the
 * server's /etc/hotspare, its state directory (the server's disk), a persistent journal the
 * harness can read, and the lab's serial console bound in as /dev/ttyS0.
 *
 * The lab runs every agent command as init of a fresh PID namespace inside the server's
 * network namespace (`ip netns exec`, which mounts a /sys of its own without cgroups, and
 * nspawn needs them): nsenter takes nspawn back to the harness's mount namespace, and
 * `--network-namespace-path` puts the container into the server's network namespace. A BMC
 * power off kills that PID namespace's init (nspawn): the kernel takes the container with
 * it, a power cut. Power on runs the command again: a boot.
 */
import { copyFileSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import type { AgentCommand, AgentContext } from '../lab/lab.js';
import { toYaml } from '../lab/agent-config.js';
import type { AgentConfigFile, BoardFile } from '../lab/agent-config.js';
import { childrenOf } from '../lab/proc-stat.js';
import { exec } from '../lab/exec.js';
import type { ExecResult } from '../lab/exec.js';

/** Capabilities the container gets beyond nspawn's default set (the unit narrows them again). */
export const CONTAINER_CAPABILITIES = ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_NICE'];

/** Per-server directories of the image lab, in the lab's run directory. */
export function serverDir(runDir: string, server: string): string {
  return join(runDir, `image-${server}`);
}

/** A fixed machine id per lab server (its journal directory's name). */
export function machineId(labId: string, server: string): string {
  return createHash('sha256').update(`hotspare-image ${labId} ${server}`).digest('hex').slice(0, 32);
}

/** The journal directory of a server's container, on the host. */
export function journalDir(runDir: string, labId: string, server: string): string {
  return join(serverDir(runDir, server), 'journal', machineId(labId, server));
}

/**
 * Writes the container's /etc/hotspare from the lab's config for this server, as an operator
 * would lay it out: hotspare.yaml with `node: auto` (the same text on every server but for
 * the files it names), board.yaml beside it with the console on /dev/ttyS0, the BMC password
 * files and the peer key copied in (0600).
 */
export function writeContainerEtc(
  context: AgentContext,
  tweak: (config: AgentConfigFile) => void = () => undefined,
): string {
  const dir = serverDir(context.runDir, context.server);
  const etc = join(dir, 'etc');
  for (const sub of ['etc', 'state', 'journal']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
  const config = parse(readFileSync(context.configPath, 'utf8')) as AgentConfigFile;
  const board = parse(readFileSync(context.boardPath, 'utf8')) as BoardFile;
  for (const member of config.cluster.members) {
    const inside = `bmc-${member.name}.pass`;
    copyFileSync(member.bmc.password_file, join(etc, inside));
    member.bmc.password_file = `/etc/hotspare/${inside}`;
  }
  const peerKey = config.peer?.key_file;
  if (typeof peerKey === 'string' && config.peer !== undefined) {
    copyFileSync(peerKey, join(etc, 'peer.key'));
    config.peer.key_file = '/etc/hotspare/peer.key';
  }
  config.node = 'auto';
  config.board = 'board.yaml';
  config.state_dir = '/var/lib/hotspare';
  config.control_socket = '/run/hotspare/control.sock';
  delete config['log'];
  tweak(config);
  board.serial = { ...board.serial, device: '/dev/ttyS0' };
  writeFileSync(join(etc, 'hotspare.yaml'), toYaml(config), { mode: 0o600 });
  writeFileSync(join(etc, 'board.yaml'), toYaml(board), { mode: 0o600 });
  return etc;
}

export interface ImageAgentOptions {
  /** The image directory (rootfs.ts imageWithPackage). */
  image: string;
  /** A last word on each server's config. */
  tweak?: (server: string, config: AgentConfigFile) => void;
}

/**
 * The lab's agent command for booted images: writes the server's /etc/hotspare, then boots
 * the image. `--volatile=overlay`: the three containers share the image read-only, each with
 * a tmpfs on top, lost at every power off like a network-booted diskless server's; the
 * state directory is a bind of the server's own directory (its disk).
 */
export function imageAgent(options: ImageAgentOptions): AgentCommand {
  return (context) => {
    writeContainerEtc(context, (config) => options.tweak?.(context.server, config));
    const dir = serverDir(context.runDir, context.server);
    // The agent end of the lab's socat console pair (scripts/lab/agent-config.ts agentPaths).
    const tty = realpathSync(join(context.runDir, `tty-${context.server}-agent`));
    const labId = basename(context.runDir);
    return [
      'nsenter',
      `--mount=/proc/${process.pid}/ns/mnt`,
      '--',
      'systemd-nspawn',
      '--quiet',
      `--directory=${options.image}`,
      '--volatile=overlay',
      '--boot',
      '--register=no',
      '--keep-unit',
      `--network-namespace-path=/run/netns/${context.netns}`,
      `--capability=${CONTAINER_CAPABILITIES.join(',')}`,
      `--machine=${context.netns}`,
      `--hostname=${context.server}`,
      `--uuid=${machineId(labId, context.server)}`,
      '--link-journal=no',
      '--resolv-conf=off',
      '--timezone=off',
      '--setenv=SYSTEMD_COLORS=0',
      `--bind-ro=${join(dir, 'etc')}:/etc/hotspare`,
      `--bind=${join(dir, 'state')}:/var/lib/hotspare`,
      `--bind=${join(dir, 'journal')}:/var/log/journal`,
      `--bind=${tty}:/dev/ttyS0`,
    ];
  };
}

/** PID (on the host) of the container's init, under the lab's agent program (nspawn). */
export function containerInit(nspawnPid: number | null): number | null {
  if (nspawnPid === null) return null;
  const [init] = childrenOf(nspawnPid);
  return init ?? null;
}

/** Runs a command inside a running container (all its namespaces), like `machinectl shell`. */
export function inContainer(initPid: number, argv: readonly string[], timeoutMs = 20_000): Promise<ExecResult> {
  return exec('nsenter', ['--all', `--target=${initPid}`, '--', ...argv], timeoutMs);
}

/** One journal entry as journalctl -o json gives it (string fields only). */
export type JournalEntry = Record<string, string>;

/**
 * A container's journal read from the host (its persistent journal is bound to the run
 * directory, so it survives power cuts up to journald's last write), filtered as given:
 * `['-u', 'hotspare', '-p', 'err']`.
 */
export async function readJournal(dir: string, filters: readonly string[] = []): Promise<JournalEntry[]> {
  const { stdout } = await exec(
    'journalctl',
    ['--directory', dir, '-o', 'json', '--no-pager', ...filters],
    30_000,
  ).catch(() => ({ stdout: '', stderr: '' }));
  const out: JournalEntry[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      const strings: JournalEntry = {};
      for (const [k, v] of Object.entries(entry)) if (typeof v === 'string') strings[k] = v;
      out.push(strings);
    } catch {
      // a line cut short: skip
    }
  }
  return out;
}
