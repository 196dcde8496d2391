/**
 * Failover runs of our agent: the primary fails (by default it loses power, the lab's crash;
 * or a fault of scripts/lab/failover.ts that leaves it powered), the monitor detects it,
 * fences it (through its BMC, or its isolation device with the `isolated` gate), confirms
 * silence, takes the address over and announces it. Each run is broken down from the
 * monitor's own log (event timestamps on the same monotonic clock as the observer's).
 */
import { agentLog, converged } from '../lab/cluster.js';
import type { AgentLine } from '../lab/cluster.js';
import { monoUs } from '../lab/exec.js';
import type { Lab } from '../lab/lab.js';
import { bmcOffOf, failServer, undoFault, waitBack } from '../lab/failover.js';
import type { FailoverFault } from '../lab/failover.js';
import { PRIMARY_ADDRESS, bare } from '../lab/topology.js';
import { ms, observeTakeover, waitSteady } from './observed.js';
import type { ObservedTakeover } from './observed.js';

export interface TimelineEvent {
  name: string;
  atUs: number;
}

export interface FailoverRun {
  run: number;
  oldHolder: string;
  newHolder: string;
  crashUs: number;
  outageMs: number;
  /** Last reply before the crash -> the monitor declares the primary down. */
  detectionMs: number | null;
  /** fence-start -> fence-done: power off and its read-back, two ipmitool runs against ipmi_sim. */
  fenceMs: number | null;
  /** fence-done -> the [0013] check found the primary address silent. */
  confirmMs: number | null;
  /** Silence confirmed -> the primary address is on the interface (release monitor address, persist, assign). */
  takeoverMs: number | null;
  /** Address assigned -> first observer reply from the new holder (gratuitous ARP, the observer's next ping). */
  announceMs: number | null;
  /** The outage without the fence (BMC round trips): detection, confirm, takeover, announcement. */
  ownMs: number | null;
  /**
   * The BMC's own part when it powered the server off (a fault that leaves it powered): it
   * accepted the off -> the power was really off (lab power log). Null after a crash.
   */
  bmcOffMs: number | null;
  /**
   * What we add to the BMC's own off time when the takeover waited for it: outage less
   * detection less bmcOffMs. Null when the takeover did not wait for the power to go (a
   * crash, the `isolated` or `lease` gate).
   */
  beyondBmcMs: number | null;
  events: TimelineEvent[];
  observed: ObservedTakeover;
}

function firstAfter(lines: readonly AgentLine[], fromUs: number, match: (line: AgentLine) => boolean): number | null {
  return lines.find((line) => line.atUs >= fromUs && match(line))?.atUs ?? null;
}

const isPrimaryAddress = (line: AgentLine): boolean => bare(String(line['address'] ?? '')) === bare(PRIMARY_ADDRESS);

export interface OursOutcome {
  runs: FailoverRun[];
  /** Takeovers that no crash caused (found between runs or just before a crash): false alarms. */
  unexpected: Array<{ atRun: number; expected: string; found: string; why: string }>;
  /** Attempts not measured: the observer never saw the primary answer steadily, or a false alarm interfered. */
  skipped: Array<{ atRun: number; why: string }>;
}

export async function runOurs(
  lab: Lab,
  count: number,
  log: (line: string) => void,
  fault: FailoverFault = 'crash',
): Promise<OursOutcome> {
  const runs: FailoverRun[] = [];
  const unexpected: OursOutcome['unexpected'] = [];
  const skipped: OursOutcome['skipped'] = [];
  let expected: string | null = null;
  const maxAttempts = count * 2 + 5;
  for (let attempt = 1; runs.length < count && attempt <= maxAttempts; attempt += 1) {
    const run = runs.length + 1;
    const before = await converged(lab, 60_000, 1500);
    if (expected !== null && before.primary !== expected) {
      unexpected.push({
        atRun: run,
        expected,
        found: before.primary,
        why: 'primary changed between runs without a crash',
      });
      log(`  false alarm between runs: expected primary ${expected}, found ${before.primary}`);
    }
    expected = before.primary;
    try {
      await waitSteady(lab, before.primary);
    } catch {
      skipped.push({ atRun: run, why: `${before.primary} did not answer the observer steadily` });
      continue;
    }
    const crashUs = monoUs();
    const earlier = agentLog(lab, before.monitor).find(
      (l) => (l.event === 'primary-down' || l.event === 'fence-start') && l.atUs >= crashUs - 3_000_000,
    );
    if (earlier !== undefined) {
      // A false alarm has begun (the monitor is fencing a live primary): not the moment to measure a crash.
      const why = `monitor ${before.monitor} logged ${earlier.event} without a crash`;
      unexpected.push({ atRun: run, expected: before.primary, found: before.monitor, why });
      skipped.push({ atRun: run, why });
      log(`  run ${run} skipped: ${why}`);
      expected = null;
      continue;
    }
    await failServer(lab, before.primary, fault);
    if (
      fault === 'crash' &&
      !lab.powerLog.some(
        (p) => p.server === before.primary && !p.on && p.source === 'harness' && p.requestedUs >= crashUs,
      )
    ) {
      // Its BMC had powered it off just before: a fence by a false alarm won the race.
      const why = `${before.primary} was already powered off by a fence when the crash came`;
      unexpected.push({ atRun: run, expected: before.primary, found: before.monitor, why });
      skipped.push({ atRun: run, why });
      log(`  run ${run} skipped: ${why}`);
      expected = null;
      continue;
    }
    const observed = await observeTakeover(lab, crashUs, before.monitor, 30_000);
    // The monitor's log lines are written when they happen; give the file a moment.
    let lines: AgentLine[] = [];
    await lab
      .waitFor(
        () => {
          lines = agentLog(lab, before.monitor);
          return lines.some((l) => l.event === 'announced' && l.atUs >= crashUs && isPrimaryAddress(l));
        },
        3000,
        'announced in the log',
      )
      .catch(() => undefined);
    // Under the lease gate the window's end is \`primary-silent\` (the lease is asked for first).
    const down = firstAfter(lines, crashUs, (l) => l.event === 'primary-silent' || l.event === 'primary-down');
    const fenceStart = firstAfter(lines, crashUs, (l) => l.event === 'fence-start');
    const fenceDone = firstAfter(lines, crashUs, (l) => l.event === 'fence-done');
    const confirmed = firstAfter(
      lines,
      fenceDone ?? crashUs,
      (l) => l.event === 'checked' && isPrimaryAddress(l) && l['taken'] === false,
    );
    const assigned = firstAfter(lines, crashUs, (l) => l.event === 'address-assigned' && isPrimaryAddress(l));
    const announced = firstAfter(lines, crashUs, (l) => l.event === 'announced' && isPrimaryAddress(l));
    const fenceMs = ms(fenceStart, fenceDone);
    const off = bmcOffOf(lab, before.primary, crashUs);
    const detectionMs = ms(observed.lastReplyUs, down);
    // The takeover waited for the power to go when the address was assigned after it.
    const waited = off !== null && assigned !== null && assigned >= off.doneUs && observed.firstReplyUs >= off.doneUs;
    const bmcOffMs = off === null ? null : ms(off.commandUs, off.doneUs);
    const events: TimelineEvent[] = [
      { name: 'crash', atUs: crashUs },
      { name: 'last reply', atUs: observed.lastReplyUs },
      ...(down === null ? [] : [{ name: 'detected', atUs: down }]),
      ...(fenceStart === null ? [] : [{ name: 'fence start', atUs: fenceStart }]),
      ...(off === null ? [] : [{ name: 'power off', atUs: off.doneUs }]),
      ...(fenceDone === null ? [] : [{ name: 'fenced', atUs: fenceDone }]),
      ...(confirmed === null ? [] : [{ name: 'silence confirmed', atUs: confirmed }]),
      ...(assigned === null ? [] : [{ name: 'address taken', atUs: assigned }]),
      ...(announced === null ? [] : [{ name: 'announced', atUs: announced }]),
      { name: 'first reply', atUs: observed.firstReplyUs },
    ];
    const result: FailoverRun = {
      run,
      oldHolder: before.primary,
      newHolder: before.monitor,
      crashUs,
      outageMs: observed.outageMs,
      detectionMs,
      fenceMs,
      confirmMs: ms(fenceDone, confirmed),
      takeoverMs: ms(confirmed, assigned),
      announceMs: ms(assigned, observed.firstReplyUs),
      ownMs: fenceMs === null ? null : Math.round((observed.outageMs - fenceMs) * 100) / 100,
      bmcOffMs,
      beyondBmcMs:
        waited && detectionMs !== null && bmcOffMs !== null
          ? Math.round((observed.outageMs - detectionMs - bmcOffMs) * 100) / 100
          : null,
      events,
      observed,
    };
    runs.push(result);
    log(
      `  run ${run}: outage ${result.outageMs} ms (detection ${String(result.detectionMs)}, fence ${String(result.fenceMs)}, confirm ${String(result.confirmMs)}, takeover ${String(result.takeoverMs)}, announce ${String(result.announceMs)}, BMC off ${String(bmcOffMs)})`,
    );
    await undoFault(lab, before.primary, fault);
    // The new primary powers the old one on again through its BMC; wait for it to be back.
    await waitBack(lab, before.primary, `run ${run}`, crashUs);
    expected = before.monitor;
  }
  return { runs, unexpected, skipped };
}
