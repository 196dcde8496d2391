/** The cluster as ground truth shows it (roles from addresses), and the agents' own logs. */
import { readFileSync } from 'node:fs';
import type { Lab } from './lab.js';
import { monoUs } from './exec.js';

export interface Roles {
  primary: string;
  monitor: string;
  spares: string[];
}

/**
 * Ground truth from `ip -n NS addr` on every server: exactly one server holds the primary
 * address and one other the monitor address, with their links up; the rest hold neither.
 */
export async function roles(lab: Lab): Promise<Roles | null> {
  const h = await lab.holders();
  if (h.primaryUp.length !== 1 || h.monitorUp.length !== 1 || h.primary.length !== 1 || h.monitor.length !== 1)
    return null;
  const [primary] = h.primaryUp;
  const [monitor] = h.monitorUp;
  if (primary === undefined || monitor === undefined || primary === monitor) return null;
  return { primary, monitor, spares: lab.serverNames().filter((n) => n !== primary && n !== monitor) };
}

/**
 * Waits for one primary and one monitor, then for them to stay so for `stableMs`. The
 * default limit is generous: boot checks that answer late on a loaded machine are repeated
 * (stale results back off and check again), and one CI run did not converge within 20 s;
 * on failure the message carries the cluster's picture (clusterPicture) to say why.
 */
export async function converged(lab: Lab, timeoutMs = 40_000, stableMs = 1500): Promise<Roles> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const first = await lab
      .waitFor(() => roles(lab), Math.max(1, deadline - Date.now()), 'one primary and one monitor', 50)
      .catch(async (error: unknown) => {
        throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await clusterPicture(lab)}`, {
          cause: error,
        });
      });
    const stableUntil = Date.now() + stableMs;
    let steady = true;
    while (Date.now() < stableUntil) {
      const now = await roles(lab);
      if (now === null || now.primary !== first.primary || now.monitor !== first.monitor) {
        steady = false;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (steady) return first;
    if (Date.now() > deadline)
      throw new Error(`lab ${lab.id}: roles did not settle within ${timeoutMs} ms\n${await clusterPicture(lab)}`);
  }
}

/**
 * What the cluster looked like when it did not converge, for the failure message (a CI log
 * may keep only the error): who holds which address with which links, and each agent's last
 * transitions, warnings and errors in its own words.
 */
export async function clusterPicture(lab: Lab, lines = 6): Promise<string> {
  const out: string[] = [];
  try {
    const h = await lab.holders();
    out.push(
      `  holders: primary [${h.primary.join(', ')}] (up [${h.primaryUp.join(', ')}]), monitor [${h.monitor.join(', ')}] (up [${h.monitorUp.join(', ')}])`,
    );
  } catch (error) {
    out.push(`  holders: unreadable (${String(error)})`);
  }
  const tails = lab.serverNames().map((name) => ({
    name,
    tail: agentLog(lab, name)
      .filter((l) => l.event === 'transition' || l.event === 'reboot' || l.level === 'error' || l.level === 'warn')
      .slice(-lines),
  }));
  // Times are the shared monotonic clock, in ms before now, so the servers' lines compare.
  const nowUs = monoUs();
  for (const { name, tail } of tails) {
    out.push(`  ${name}:${tail.length === 0 ? ' (no log lines)' : ''}`);
    for (const l of tail) out.push(`    -${((nowUs - l.atUs) / 1000).toFixed(0)} ms ${l.event}: ${l.message}`);
  }
  return out.join('\n');
}

export interface AgentLine {
  event: string;
  message: string;
  level: string;
  atUs: number;
  [key: string]: unknown;
}

/** The agent's own JSON log lines (its words, for breakdowns and messages, not for verdicts). */
export function agentLog(lab: Lab, server: string): AgentLine[] {
  let text = '';
  try {
    text = readFileSync(lab.get(server).paths.log, 'utf8');
  } catch {
    return [];
  }
  const lines: AgentLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    try {
      const v = JSON.parse(raw) as Record<string, unknown>;
      if (typeof v['event'] === 'string' && typeof v['atUs'] === 'number') {
        lines.push({
          ...v,
          event: v['event'],
          message: String(v['message'] ?? v['msg'] ?? ''),
          level: String(v['level'] ?? '').toLowerCase(),
          atUs: v['atUs'],
        });
      }
    } catch {
      // a line cut by a kill: skip it
    }
  }
  return lines;
}
