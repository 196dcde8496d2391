/** Statistics over the observer's echo replies. Pure. */

export interface Reply {
  /** Receive time, µs on the system monotonic clock. */
  t: number;
  /** Running count of the request this answers (not wrapped at 16 bits). */
  n: number;
  /** IP TTL of the reply: tells which server answered. */
  ttl: number;
  /** Round trip, µs. */
  rtt: number;
}

export interface Gap {
  gapUs: number;
  /** Last reply before the gap (or the window start when there was none). */
  fromUs: number;
  /** First reply after the gap (or the window end when there was none: `open`). */
  toUs: number;
  ttlBefore: number | null;
  ttlAfter: number | null;
  /** No reply came after the gap within the window. */
  open: boolean;
}

/** Index of the first reply with t >= atUs (replies are in time order). */
export function firstAtOrAfter(replies: readonly Reply[], atUs: number): number {
  let low = 0;
  let high = replies.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((replies[middle]?.t ?? Infinity) < atUs) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

/**
 * The largest gap between consecutive replies in [fromUs, toUs]. The last reply before fromUs
 * starts the window (an outage begins at the last answer), and when nothing answered after
 * the last reply, the gap up to toUs counts (`open`).
 */
export function largestGap(replies: readonly Reply[], fromUs: number, toUs: number): Gap {
  const start = firstAtOrAfter(replies, fromUs);
  const end = firstAtOrAfter(replies, toUs + 1);
  const before = start > 0 ? replies[start - 1] : undefined;
  let previousT = before?.t ?? fromUs;
  let previousTtl: number | null = before?.ttl ?? null;
  let best: Gap = {
    gapUs: -1,
    fromUs: previousT,
    toUs: previousT,
    ttlBefore: previousTtl,
    ttlAfter: previousTtl,
    open: false,
  };
  for (let i = start; i < end; i += 1) {
    const reply = replies[i];
    if (reply === undefined) {
      continue;
    }
    const gap = reply.t - previousT;
    if (gap > best.gapUs) {
      best = { gapUs: gap, fromUs: previousT, toUs: reply.t, ttlBefore: previousTtl, ttlAfter: reply.ttl, open: false };
    }
    previousT = reply.t;
    previousTtl = reply.ttl;
  }
  const tail = toUs - previousT;
  if (tail > best.gapUs) {
    best = { gapUs: tail, fromUs: previousT, toUs, ttlBefore: previousTtl, ttlAfter: null, open: true };
  }
  return best;
}

/** Who answered when: one entry per change of TTL. */
export function ttlChanges(replies: readonly Reply[]): Array<{ t: number; ttl: number }> {
  const changes: Array<{ t: number; ttl: number }> = [];
  for (const reply of replies) {
    if (changes.at(-1)?.ttl !== reply.ttl) {
      changes.push({ t: reply.t, ttl: reply.ttl });
    }
  }
  return changes;
}
