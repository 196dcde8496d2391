/**
 * Where a lease service keeps its voter state (./rules.ts `VoterState`) and its frame counter.
 *
 * One lease thread keeps them in its own memory (`LocalVoterCell`). Twin lease threads
 * (`lease.thread: twins`, README "Takeover gates") are one voter: each answers requests on
 * its own port, and a promise either gives binds both, so they keep one state in shared
 * memory (`SharedVoterCell`), read and changed only under a lock, so that the pure rule
 * (`vote`) sees and replaces it whole: two twins can never each grant a different member.
 * They also draw their frames' counter from one shared count, so that the voters' replay
 * guard sees one sender with one rising counter.
 */
import type { VoterState } from './rules.js';

export interface VoterCell {
  /** The state now (a copy). */
  read(): VoterState;
  /** Runs `change` on the state with no other change in between, stores its state, returns its result. */
  update<T>(change: (s: VoterState) => [VoterState, T]): T;
  /** The next frame counter of this member's lease frames (from 1). */
  nextCounter(): number;
}

export class LocalVoterCell implements VoterCell {
  private counter = 0;

  constructor(private state: VoterState) {}

  read(): VoterState {
    return this.state;
  }

  update<T>(change: (s: VoterState) => [VoterState, T]): T {
    const [state, result] = change(this.state);
    this.state = state;
    return result;
  }

  nextCounter(): number {
    this.counter += 1;
    return this.counter;
  }
}

// Layout: Int32 [lock, promise's member index (-1: none)], then at byte 8 Float64 [startedUs,
// highestEpoch, promise epoch, promise untilUs], then at byte 40 the BigInt64 frame counter.
const BYTES = 48;
const LOCK = 0;
const TO = 1;
const STARTED = 0;
const HIGHEST = 1;
const EPOCH = 2;
const UNTIL = 3;

export class SharedVoterCell implements VoterCell {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly counter: BigInt64Array;

  /** A new shared state: no promise, highest epoch 0, started at `startedUs`. */
  static create(startedUs: number): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(BYTES);
    new Int32Array(buffer, 0, 2)[TO] = -1;
    new Float64Array(buffer, 8, 4)[STARTED] = startedUs;
    return buffer;
  }

  /**
   * `names`: the members a promise can be to, in the same order in every thread that shares
   * `buffer` (the lease's voters); a promise to a name not among them cannot be stored.
   */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly names: readonly string[],
  ) {
    if (buffer.byteLength < BYTES)
      throw new RangeError(`SharedVoterCell: a buffer of ${BYTES} bytes, got ${buffer.byteLength}`);
    this.i32 = new Int32Array(buffer, 0, 2);
    this.f64 = new Float64Array(buffer, 8, 4);
    this.counter = new BigInt64Array(buffer, 40, 1);
  }

  read(): VoterState {
    return this.update((s) => [s, s]);
  }

  update<T>(change: (s: VoterState) => [VoterState, T]): T {
    this.lock();
    try {
      const [state, result] = change(this.decode());
      this.encode(state);
      return result;
    } finally {
      this.unlock();
    }
  }

  nextCounter(): number {
    return Number(Atomics.add(this.counter, 0, 1n) + 1n);
  }

  private decode(): VoterState {
    const to = this.i32[TO] ?? -1;
    const name = to >= 0 ? this.names[to] : undefined;
    return {
      startedUs: this.f64[STARTED] ?? 0,
      highestEpoch: this.f64[HIGHEST] ?? 0,
      promise: name === undefined ? null : { to: name, epoch: this.f64[EPOCH] ?? 0, untilUs: this.f64[UNTIL] ?? 0 },
    };
  }

  private encode(s: VoterState): void {
    const p = s.promise;
    const to = p === null ? -1 : this.names.indexOf(p.to);
    if (p !== null && to < 0) throw new RangeError(`SharedVoterCell: ${p.to} is not among the voters`);
    this.f64[STARTED] = s.startedUs;
    this.f64[HIGHEST] = s.highestEpoch;
    this.f64[EPOCH] = p?.epoch ?? 0;
    this.f64[UNTIL] = p?.untilUs ?? 0;
    this.i32[TO] = to;
  }

  // The lock is held for one decode, one pure rule and one encode: microseconds. The twin
  // waits for it (briefly sleeping, not spinning) rather than answer on a stale state.
  private lock(): void {
    while (Atomics.compareExchange(this.i32, LOCK, 0, 1) !== 0) Atomics.wait(this.i32, LOCK, 1, 1);
  }

  private unlock(): void {
    Atomics.store(this.i32, LOCK, 0);
    Atomics.notify(this.i32, LOCK, 1);
  }
}
