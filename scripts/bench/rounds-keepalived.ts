/**
 * Failover runs of keepalived in the same lab: the master loses power (the lab's crash: process
 * killed, links down), a backup misses its advertisements, becomes master, adds the address
 * and sends gratuitous ARP. keepalived's breakdown comes from ground truth: the address
 * appearing on the new master (ip monitor) and the observer's first reply.
 */
import { readFileSync } from 'node:fs';
import { monoUs, sleep } from '../lab/exec.js';
import type { Lab } from '../lab/lab.js';
import { lastVrrpState } from './keepalived.js';
import { ms, observeTakeover, waitSteady } from './observed.js';
import type { ObservedTakeover } from './observed.js';
import type { FailoverRun, TimelineEvent } from './rounds-ours.js';

function readLog(lab: Lab, server: string): string {
  try {
    return readFileSync(lab.get(server).paths.log, 'utf8');
  } catch {
    return '';
  }
}

/** One master holding the address with its link up, every other server powered and in BACKUP, for `stableMs`. */
async function settled(lab: Lab, timeoutMs: number, stableMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let candidate: string | null = null;
  let since = 0;
  for (;;) {
    const holders = await lab.holders();
    const master =
      holders.primaryUp.length === 1 && holders.primary.length === 1 ? (holders.primaryUp[0] ?? null) : null;
    const ok =
      master !== null &&
      lab
        .serverNames()
        .every(
          (name) =>
            lab.isPowered(name) &&
            lab.get(name).agent !== null &&
            (name === master || lastVrrpState(readLog(lab, name)) === 'BACKUP'),
        );
    if (ok && master === candidate) {
      if (Date.now() - since >= stableMs) return master;
    } else {
      candidate = ok ? master : null;
      since = Date.now();
    }
    if (Date.now() > deadline) throw new Error(`lab ${lab.id}: keepalived did not settle within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface KeepalivedOutcome {
  runs: FailoverRun[];
  skipped: Array<{ atRun: number; why: string }>;
}

export async function runKeepalived(
  lab: Lab,
  count: number,
  stableMs: number,
  log: (line: string) => void,
): Promise<KeepalivedOutcome> {
  const runs: FailoverRun[] = [];
  const skipped: KeepalivedOutcome['skipped'] = [];
  const maxAttempts = count * 2 + 5;
  for (let attempt = 1; runs.length < count && attempt <= maxAttempts; attempt += 1) {
    const run = runs.length + 1;
    const master = await settled(lab, 60_000, stableMs);
    try {
      await waitSteady(lab, master);
    } catch {
      skipped.push({ atRun: run, why: `${master} did not answer the observer steadily` });
      log(`  run ${run} skipped: ${master} did not answer the observer steadily`);
      continue;
    }
    const crashUs = monoUs();
    await lab.crash(master);
    const next = await lab.waitFor(
      async () => {
        const holders = await lab.holders();
        return holders.primaryUp.length === 1 && holders.primaryUp[0] !== master ? holders.primaryUp[0] : null;
      },
      30_000,
      `run ${run}: a backup taking over from ${master}`,
      5,
    );
    let observed: ObservedTakeover;
    try {
      observed = await observeTakeover(lab, crashUs, next);
    } catch (error) {
      // The service did not come back through the new master: listed (not measured), and the
      // next run starts from a restored cluster instead of the whole row failing.
      const why = `after the crash of ${master}, ${next} took the address but ${error instanceof Error ? error.message : String(error)}`;
      skipped.push({ atRun: run, why });
      log(`  run ${run} not measured: ${why}`);
      await lab.restore(master, 'crash');
      continue;
    }
    const events: TimelineEvent[] = [
      { name: 'crash', atUs: crashUs },
      { name: 'last reply', atUs: observed.lastReplyUs },
      ...(observed.addressAddedUs === null ? [] : [{ name: 'address taken', atUs: observed.addressAddedUs }]),
      { name: 'first reply', atUs: observed.firstReplyUs },
    ];
    const result: FailoverRun = {
      run,
      oldHolder: master,
      newHolder: next,
      crashUs,
      outageMs: observed.outageMs,
      // keepalived logs no detection time of its own: detection and election end when it adds the address.
      detectionMs: ms(observed.lastReplyUs, observed.addressAddedUs),
      fenceMs: null,
      confirmMs: null,
      takeoverMs: null,
      announceMs: ms(observed.addressAddedUs, observed.firstReplyUs),
      ownMs: observed.outageMs,
      bmcOffMs: null,
      beyondBmcMs: null,
      events,
      observed,
    };
    runs.push(result);
    log(
      `  run ${run}: outage ${result.outageMs} ms (until address added ${String(result.detectionMs)}, announce ${String(result.announceMs)})`,
    );
    await lab.restore(master, 'crash');
  }
  return { runs, skipped };
}
