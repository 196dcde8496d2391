import { agentLog, converged, roles } from './cluster.js';
import type { AgentLine } from './cluster.js';
import { monoUs } from './exec.js';
import type { Lab } from './lab.js';

/** One crash of the primary, measured from the observer's replies and the monitor's log. */
export interface FailoverRound {
  round: number;
  oldPrimary: string;
  newPrimary: string;
  /** Observer: last reply before the crash to the first reply from the new primary. */
  outageMs: number;
  /** Last reply before the crash -> the monitor declares the primary down. */
  detectionMs: number | null;
  /** Fence start -> fence done (power off, then status read, through ipmitool and ipmi_sim). */
  fenceMs: number | null;
  /** Fence done -> the [0013] check found the primary address silent (window + check cost). */
  confirmMs: number | null;
  /** Confirmation -> the primary address is on the interface (release monitor, persist, assign). */
  takeoverMs: number | null;
  /** Address assigned -> first observer reply from the new primary (gratuitous ARP and the observer's next ping). */
  announceMs: number | null;
  /** The BMC's own part: it acknowledged the off -> the power was really off (lab power log). */
  bmcOffMs: number | null;
  /** The outage less detection and the BMC's own off time: what the agent adds. */
  oursMs: number | null;
}

/**
 * How the primary fails in a round: `crash` (power cut by the harness: the BMC then finds
 * it off), `cut` (its switch port goes down; the agent lives and releases its addresses),
 * `silence` (its switch port stops forwarding; the agent lives, holding the address),
 * `frozen` (a hung server: its agent stopped and its port silent with the link up, so
 * neither the agent nor its kernel answers). With all but `crash` the fence really has to
 * power the server off, so a slow BMC shows.
 */
export type FailoverFault = 'crash' | 'cut' | 'silence' | 'frozen';
export const FAILOVER_FAULTS: readonly FailoverFault[] = ['crash', 'cut', 'silence', 'frozen'];

export function isFailoverFault(text: string): text is FailoverFault {
  return (FAILOVER_FAULTS as readonly string[]).includes(text);
}

/** Makes `name` fail the way `fault` says. */
export async function failServer(lab: Lab, name: string, fault: FailoverFault): Promise<void> {
  if (fault === 'frozen') {
    lab.hang(name);
    await lab.silence(name);
    return;
  }
  await lab.fail(name, fault);
}

/**
 * Undoes what the fault left once the takeover is done: a port cut stays cut across the power
 * cycle, and a silenced port does not always forward again by itself (the disabled state can
 * outlive the carrier loss). A crash is undone by the new primary powering the server on.
 */
export async function undoFault(lab: Lab, name: string, fault: FailoverFault): Promise<void> {
  if (fault === 'cut' || fault === 'silence') await lab.restore(name, fault);
  if (fault === 'frozen') {
    await lab.restore(name, 'hang');
    await lab.restore(name, 'silence');
  }
}

/**
 * Waits until the failed server is back: its fence carried out (a slow BMC's acknowledged off
 * happens seconds after a takeover that did not wait for it, with the `isolated` and `lease`
 * gates), powered on again by the new primary, its agent through boot into a role, and the
 * cluster's roles settled. Without the first condition the next round would begin with that
 * off still to come; without the third it could begin while the agent is still starting
 * (seconds on a loaded machine), and under the `lease` gate a crash then leaves the monitor
 * one voter of three: it is refused the lease, rightly, and the round measures nothing.
 */
export async function waitBack(lab: Lab, name: string, what: string, sinceUs: number): Promise<void> {
  await lab.waitFor(
    async () => {
      if (lab.bmcPower.offPending(name) || !lab.isPowered(name) || lab.get(name).agent === null) return false;
      if (!settledSincePowerOn(lab, name, sinceUs)) return false;
      return (await roles(lab)) !== null;
    },
    30_000,
    `${what}: ${name} back`,
  );
}

/** Roles an agent settles in after boot (every other phase is on the way to one). */
const SETTLED = new Set(['spare', 'monitor', 'primary']);

/**
 * True when `name`'s agent has reached a settled role since its last power on after
 * `sinceUs`, from its own log; true at once when it was not powered on again since then.
 */
export function settledSincePowerOn(lab: Lab, name: string, sinceUs: number): boolean {
  const on = lab.powerLog.filter((p) => p.server === name && p.on && p.requestedUs >= sinceUs).at(-1);
  if (on === undefined) return true;
  return agentLog(lab, name).some(
    (l) => l.atUs >= on.doneUs && l.event === 'transition' && SETTLED.has(String(l['to'])),
  );
}

/**
 * The BMC's own part of the fence of `server` after `sinceUs`: it accepted the off -> the
 * power was really off (lab power log), or null when no BMC powered it off.
 */
export function bmcOffOf(lab: Lab, server: string, sinceUs: number): { commandUs: number; doneUs: number } | null {
  const off = lab.powerLog.find((p) => p.server === server && !p.on && p.source === 'bmc' && p.requestedUs >= sinceUs);
  return off === undefined ? null : { commandUs: off.commandUs, doneUs: off.doneUs };
}

function firstAfter(lines: AgentLine[], fromUs: number, match: (l: AgentLine) => boolean): number | null {
  return lines.find((l) => l.atUs >= fromUs && match(l))?.atUs ?? null;
}

const ms = (a: number | null, b: number | null): number | null =>
  a === null || b === null ? null : Math.round((b - a) / 10) / 100;

export interface FailoverRun {
  rounds: FailoverRound[];
  /** Takeovers that happened between rounds without a crash: false alarms. */
  falseAlarms: Array<{ round: number; expected: string; found: string }>;
}

/** Crashes the primary `rounds` times, waiting for the cluster to settle between rounds. */
export async function measureFailover(
  lab: Lab,
  rounds: number,
  log: (line: string) => void = () => {},
  fault: FailoverFault = 'crash',
): Promise<FailoverRun> {
  const results: FailoverRound[] = [];
  const unexpected: FailoverRun['falseAlarms'] = [];
  let expectedPrimary: string | null = null;
  const observer = lab.observer;
  if (observer === null) throw new Error('the failover measurement needs the observer');
  for (let round = 1; round <= rounds; round++) {
    const before = await converged(lab, 30_000, 2000);
    if (expectedPrimary !== null && before.primary !== expectedPrimary) {
      // Somebody took over between rounds without a crash: a false alarm. Say so loudly.
      log(JSON.stringify({ round, unexpectedFailover: true, expectedPrimary, primary: before.primary }));
      unexpected.push({ round, expected: expectedPrimary, found: before.primary });
    }
    expectedPrimary = before.monitor;
    await observer.waitForReply(() => true, 5000, monoUs());
    const crashUs = monoUs();
    await failServer(lab, before.primary, fault);
    await lab.waitFor(
      async () => {
        const h = await lab.holders();
        return h.primaryUp.length === 1 && h.primaryUp[0] === before.monitor;
      },
      15_000,
      `round ${round}: ${before.monitor} taking over`,
    );
    const reply = await observer.waitForReply((r) => lab.serverByTtl(r.ttl) === before.monitor, 5000, crashUs);
    const gap = observer.outage(crashUs - 100_000, reply.t + 1);
    const lines = agentLog(lab, before.monitor);
    // Under the lease gate the window's end is \`primary-silent\` (the lease is asked for first).
    const down = firstAfter(lines, crashUs, (l) => l.event === 'primary-silent' || l.event === 'primary-down');
    const fenceStart = firstAfter(lines, crashUs, (l) => l.event === 'fence-start');
    const fenceDone = firstAfter(lines, crashUs, (l) => l.event === 'fence-done');
    const confirmed = firstAfter(
      lines,
      fenceDone ?? crashUs,
      (l) => l.event === 'checked' && String(l['address']).startsWith('198.18.0.10/') && l['taken'] === false,
    );
    const assigned = firstAfter(
      lines,
      crashUs,
      (l) => l.event === 'address-assigned' && String(l['address']).startsWith('198.18.0.10/'),
    );
    const off = bmcOffOf(lab, before.primary, crashUs);
    const bmcOffMs = off === null ? null : ms(off.commandUs, off.doneUs);
    const detectionMs = ms(gap.fromUs, down);
    const outageMs = Math.round(gap.gapUs / 10) / 100;
    const result: FailoverRound = {
      round,
      oldPrimary: before.primary,
      newPrimary: before.monitor,
      outageMs,
      detectionMs,
      fenceMs: ms(fenceStart, fenceDone),
      confirmMs: ms(fenceDone, confirmed),
      takeoverMs: ms(confirmed, assigned),
      announceMs: ms(assigned, reply.t),
      bmcOffMs,
      oursMs: detectionMs === null ? null : Math.round((outageMs - detectionMs - (bmcOffMs ?? 0)) * 100) / 100,
    };
    results.push(result);
    log(JSON.stringify(result));
    // Undo what the fault left, then let the old primary come back (the new primary powers
    // it on) before the next round.
    await undoFault(lab, before.primary, fault);
    await waitBack(lab, before.primary, `round ${round}`, crashUs);
  }
  return { rounds: results, falseAlarms: unexpected };
}

export function summarize(
  values: ReadonlyArray<number | null>,
): { n: number; min: number; median: number; max: number } | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return { n: v.length, min: v[0] ?? 0, median: v[Math.floor((v.length - 1) / 2)] ?? 0, max: v[v.length - 1] ?? 0 };
}
