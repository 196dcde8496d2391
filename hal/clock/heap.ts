/**
 * A binary min-heap of timer entries, shared by the simulated clock and the real clocks' TimerQueue:
 * earliest deadline first, ties in the order the entries were made.
 */
export interface Ordered {
  atUs: number;
  order: number;
}

/** A real clock's entry (TimerQueue): cancelled entries (fn === null) stay until they reach the top or the heap is compacted. */
export interface TimerEntry {
  atUs: number;
  order: number;
  /** null once run or cancelled. */
  fn: (() => void) | null;
}

export function before(a: Ordered, b: Ordered): boolean {
  return a.atUs < b.atUs || (a.atUs === b.atUs && a.order < b.order);
}

export function push<T extends Ordered>(heap: T[], entry: T): void {
  heap.push(entry);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent] as T;
    if (!before(entry, p)) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = entry;
}

export function pop<T extends Ordered>(heap: T[]): T | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (top === undefined || last === undefined || heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    let best = last;
    const left = heap[l];
    const right = heap[r];
    if (left !== undefined && before(left, best)) {
      m = l;
      best = left;
    }
    if (right !== undefined && before(right, best)) m = r;
    if (m === i) break;
    heap[i] = heap[m] as T;
    i = m;
  }
  heap[i] = last;
  return top;
}

/** Drops cancelled entries and restores the heap order, in place. */
export function compact(heap: TimerEntry[]): void {
  const live = heap.filter((e) => e.fn !== null);
  heap.length = 0;
  for (const e of live) push(heap, e);
}
