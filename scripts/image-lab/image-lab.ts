/**
 * The booted-image lab: the namespace lab (scripts/lab/) with each server's agent replaced
 * by a Debian 12 image booted with systemd-nspawn, the hotspare .deb installed in it and
 * started by its systemd unit. The scenarios the demo and the test share live here.
 */
import { basename } from 'node:path';
import { converged } from '../lab/cluster.js';
import type { Roles } from '../lab/cluster.js';
import { monoUs, sleep } from '../lab/exec.js';
import { startLab } from '../lab/lab.js';
import type { Lab, LabOptions } from '../lab/lab.js';
import { repoRoot } from '../lab/paths.js';
import { readProcStat } from '../lab/proc-stat.js';
import { containerInit, imageAgent, inContainer, journalDir, readJournal } from './container.js';
import type { JournalEntry } from './container.js';
import { imageWithPackage, latestDeb } from './rootfs.js';

export interface ImageLab {
  lab: Lab;
  image: string;
}

/** Builds (or takes from the cache) the image and starts a three-server lab booting it. */
export async function startImageLab(
  options: LabOptions & { deb?: string } = {},
  log: (line: string) => void = () => undefined,
): Promise<ImageLab> {
  const image = await imageWithPackage(options.deb ?? latestDeb(repoRoot()), log);
  const lab = await startLab({
    ...options,
    agentCommand: imageAgent({ image }),
    // A container that ends by itself (a `reboot: system`, a poweroff) is booted again, as
    // a server's firmware would after a reboot.
    agentExit: options.agentExit ?? 'restart',
    log,
  });
  return { lab, image };
}

/** The host PID of a server's container init (systemd), or null while it is off or starting. */
export function initOf(lab: Lab, server: string): number | null {
  return containerInit(lab.agentPid(server));
}

/** Runs a command in a server's container; throws when the container is not running. */
export async function run(lab: Lab, server: string, argv: readonly string[], timeoutMs = 20_000): Promise<string> {
  const init = initOf(lab, server);
  if (init === null) throw new Error(`${server}: its container is not running`);
  return (await inContainer(init, argv, timeoutMs)).stdout;
}

/** `systemctl show hotspare -p ...` in a server's container, as a map. */
export async function unitProperties(
  lab: Lab,
  server: string,
  names: readonly string[],
): Promise<Record<string, string>> {
  const out = await run(lab, server, ['systemctl', 'show', 'hotspare', ...names.map((n) => `--property=${n}`)]);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** The hotspare unit's journal entries of a server (read from the host), filtered. */
export function journal(lab: Lab, server: string, filters: readonly string[] = []): Promise<JournalEntry[]> {
  return readJournal(journalDir(lab.runDir, basename(lab.runDir), server), ['-u', 'hotspare', ...filters]);
}

/** Waits until every server's unit is active (READY=1 received). */
export async function waitAllActive(lab: Lab, timeoutMs = 90_000): Promise<void> {
  await lab.waitFor(
    async () => {
      for (const server of lab.serverNames()) {
        const state = await unitProperties(lab, server, ['ActiveState']).catch(() => null);
        if (state?.['ActiveState'] !== 'active') return false;
      }
      return true;
    },
    timeoutMs,
    'hotspare.service active in every container',
    250,
  );
}

/**
 * Time from the container's start (its nspawn process, 10 ms resolution) to the agent's
 * READY (systemd's ActiveEnterTimestampMonotonic: the same kernel, the same clock), and to
 * the agent's exec within it.
 */
export async function readyTiming(
  lab: Lab,
  server: string,
): Promise<{ toExecMs: number; toReadyMs: number; firstReadyMs: number | null }> {
  const agent = lab.get(server).agent;
  if (agent === null) throw new Error(`${server}: no container`);
  const stat = readProcStat(agent.pid);
  if (stat === null) throw new Error(`${server}: its nspawn process is gone`);
  const startUs = (stat.startTime / ticksPerSecond()) * 1e6;
  const p = await lab.waitFor(
    async () => {
      const props = await unitProperties(lab, server, [
        'ActiveState',
        'ExecMainStartTimestampMonotonic',
        'ActiveEnterTimestampMonotonic',
      ]).catch(() => null);
      return props?.['ActiveState'] === 'active' && Number(props['ActiveEnterTimestampMonotonic']) > 0 ? props : null;
    },
    60_000,
    `${server}'s agent ready`,
    100,
  );
  const execUs = Number(p['ExecMainStartTimestampMonotonic']);
  const readyUs = Number(p['ActiveEnterTimestampMonotonic']);
  // The unit's figures are its latest start's; the journal has the first READY of this boot
  // (an agent that boots into a taken role exits 75 and starts again: `reboot: exit`).
  const ready = (await journal(lab, server, ['EVENT=ready'])).find((e) => Number(e['AT_US']) >= startUs);
  return {
    toExecMs: Math.round((execUs - startUs) / 1000),
    toReadyMs: Math.round((readyUs - startUs) / 1000),
    firstReadyMs: ready === undefined ? null : Math.round((Number(ready['AT_US']) - startUs) / 1000),
  };
}

function ticksPerSecond(): number {
  return 100; // USER_HZ on Linux x86-64
}

/** One primary power cut in the booted-image lab, measured as the namespace lab's failover. */
export interface ImageFailover {
  oldPrimary: string;
  newPrimary: string;
  /** Observer: last reply before the cut to the first reply from the new primary. */
  outageMs: number;
  /** From the monitor's journal (AT_US, the shared monotonic clock): cut -> declared down, the fence. */
  detectionMs: number | null;
  fenceMs: number | null;
}

function eventUs(entries: readonly JournalEntry[], event: string, fromUs: number): number | null {
  const hit = entries.find((e) => e['EVENT'] === event && Number(e['AT_US']) >= fromUs);
  return hit === undefined ? null : Number(hit['AT_US']);
}

/** Cuts the primary's power (the harness, not the BMC) and measures the monitor's takeover. */
export function cutPrimary(lab: Lab, before: Roles): Promise<ImageFailover> {
  return takeoverAfter(lab, before, () => lab.crash(before.primary));
}

/**
 * Does `fault` to the primary and measures the monitor's takeover as the namespace lab does:
 * the observer's gap (last reply before the fault to the first from the new primary), and
 * from the monitor's journal the detection and the fence (null: no fence, a handover).
 */
export async function takeoverAfter(
  lab: Lab,
  before: Roles,
  fault: () => Promise<unknown>,
  limitMs = 20_000,
): Promise<ImageFailover> {
  const observer = lab.observer;
  if (observer === null) throw new Error('the failover measurement needs the observer');
  await observer.waitForReply(() => true, 5000, monoUs());
  const cutUs = monoUs();
  // Not awaited before watching: `systemctl stop` returns only after the agent has ended.
  const done = fault();
  await lab.waitFor(
    async () => {
      const h = await lab.holders();
      return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor;
    },
    limitMs,
    `${before.monitor} taking over`,
  );
  await done;
  const reply = await observer.waitForReply((r) => lab.serverByTtl(r.ttl) === before.monitor, 5000, cutUs);
  const gap = observer.outage(cutUs - 100_000, reply.t + 1);
  // The journal's entries reach the file within journald's own write; give it a moment.
  await sleep(300);
  const entries = await journal(lab, before.monitor);
  const down = eventUs(entries, 'primary-down', cutUs);
  const fenceStart = eventUs(entries, 'fence-start', cutUs);
  const fenceDone = eventUs(entries, 'fence-done', cutUs);
  const ms = (a: number | null, b: number | null): number | null =>
    a === null || b === null ? null : Math.round((b - a) / 10) / 100;
  return {
    oldPrimary: before.primary,
    newPrimary: before.monitor,
    outageMs: Math.round(gap.gapUs / 10) / 100,
    detectionMs: ms(gap.fromUs, down),
    fenceMs: ms(fenceStart, fenceDone),
  };
}

/** Waits for a server to be powered, its unit active, and the roles settled with it among them. */
export async function waitRejoined(lab: Lab, server: string, timeoutMs = 90_000): Promise<Roles> {
  await lab.waitFor(
    async () =>
      lab.isPowered(server) &&
      (await unitProperties(lab, server, ['ActiveState']).catch(() => null))?.['ActiveState'] === 'active',
    timeoutMs,
    `${server} booted and its agent ready`,
    250,
  );
  // Settled: roles stable for 2 s (a rejoining server may restart its agent once: reboot).
  return converged(lab, timeoutMs, 2000);
}

export { converged };
