/** What the lab's ground truth (observer, ip monitor) shows about one takeover. */
import { monoUs, sleep } from '../lab/exec.js';
import type { Lab } from '../lab/lab.js';
import type { Reply } from '../lab/observer-stats.js';
import { PRIMARY_ADDRESS, bare } from '../lab/topology.js';

export interface ObservedTakeover {
  /** Last observer reply before the crash (µs, monotonic). */
  lastReplyUs: number;
  /** First observer reply from the new holder. */
  firstReplyUs: number;
  outageMs: number;
  /** `ip monitor`: the primary address appeared on the new holder's eth0 (null if not seen). */
  addressAddedUs: number | null;
  /** Replies from `crashUs - marginUs` to `firstReplyUs + marginUs`, for a timeline. */
  replies: Array<{ t: number; ttl: number }>;
}

export function ms(fromUs: number | null, toUs: number | null): number | null {
  return fromUs === null || toUs === null ? null : Math.round((toUs - fromUs) / 10) / 100;
}

/** Waits for the first reply from `newHolder` after `crashUs` and measures the outage around it. */
export async function observeTakeover(
  lab: Lab,
  crashUs: number,
  newHolder: string,
  timeoutMs = 15_000,
): Promise<ObservedTakeover> {
  const observer = lab.observer;
  if (observer === null) throw new Error('the failover measurement needs the observer');
  const reply = await observer
    .waitForReply((r) => lab.serverByTtl(r.ttl) === newHolder, timeoutMs, crashUs)
    .catch((error: unknown) => {
      // Say who did answer meanwhile: another server (the address went elsewhere), or nobody.
      throw new Error(
        `no reply from ${newHolder} within ${timeoutMs} ms of the crash; replies since: ${answeredSince(lab, crashUs)} (${error instanceof Error ? error.message : String(error)})`,
      );
    });
  // The window starts at the last reply before the crash (largestGap takes it as the start).
  const gap = observer.outage(crashUs, reply.t + 1);
  const wanted = bare(PRIMARY_ADDRESS);
  // ip monitor lines reach the harness a little later than they happen: give them a moment.
  const added = await lab
    .waitFor(
      () =>
        lab.events.find(
          (e) =>
            e.server === newHolder &&
            e.kind === 'addr' &&
            !e.deleted &&
            e.ifname === 'eth0' &&
            bare(e.address) === wanted &&
            e.atUs >= crashUs - 1000,
        ),
      2000,
      'primary address added event',
    )
    .catch(() => undefined);
  const marginUs = Math.max(20_000, Math.min(200_000, (reply.t - gap.fromUs) * 0.15));
  // The timeline shows a little of what follows the first reply: wait until that has arrived.
  const waitMs = (reply.t + marginUs - monoUs()) / 1000;
  if (waitMs > 0) await sleep(waitMs + 5);
  const replies = observer.replies
    .filter((r: Reply) => r.t >= gap.fromUs - marginUs && r.t <= reply.t + marginUs)
    .map((r) => ({ t: r.t, ttl: r.ttl }));
  return {
    lastReplyUs: gap.fromUs,
    firstReplyUs: reply.t,
    outageMs: Math.round(gap.gapUs / 10) / 100,
    addressAddedUs: added?.atUs ?? null,
    replies,
  };
}

/** Who answered the observer since `fromUs`, by server, with the last reply's age: "b 120 (last 3.2 s ago)". */
export function answeredSince(lab: Lab, fromUs: number): string {
  const observer = lab.observer;
  if (observer === null) return 'no observer';
  const nowUs = monoUs();
  const byServer = new Map<string, { count: number; lastUs: number }>();
  for (const r of observer.repliesSince(fromUs)) {
    const server = lab.serverByTtl(r.ttl) ?? `ttl ${r.ttl}`;
    const seen = byServer.get(server) ?? { count: 0, lastUs: r.t };
    byServer.set(server, { count: seen.count + 1, lastUs: Math.max(seen.lastUs, r.t) });
  }
  if (byServer.size === 0) return 'none';
  return [...byServer]
    .map(([server, seen]) => `${server} ${seen.count} (last ${((nowUs - seen.lastUs) / 1e6).toFixed(1)} s ago)`)
    .join(', ');
}

/**
 * Waits until `holder` answers the observer steadily: over the last `spanMs`, replies from it
 * only and no gap longer than `maxGapMs`. A crash is only measured from such a state, so an
 * outage that had begun before it (a stale ARP entry after a dispute) is not counted in.
 */
export async function waitSteady(
  lab: Lab,
  holder: string,
  timeoutMs = 15_000,
  spanMs = 100,
  maxGapMs = 20,
): Promise<void> {
  const observer = lab.observer;
  if (observer === null) throw new Error('no observer');
  await lab.waitFor(
    () => {
      const nowUs = monoUs();
      const recent = observer.repliesSince(nowUs - spanMs * 1000);
      if (recent.length === 0 || recent.some((r) => lab.serverByTtl(r.ttl) !== holder)) return false;
      return observer.outage(nowUs - spanMs * 1000, nowUs).gapUs <= maxGapMs * 1000;
    },
    timeoutMs,
    `${holder} answering the observer steadily`,
    5,
  );
}
