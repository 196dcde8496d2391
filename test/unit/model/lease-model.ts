// An explicit-state model of the `lease` gate's rules (the lead's design, issue 11 items 3-4):
// the voter rule, the holder rule, claims with epochs, release, restart with its quiet period,
// an enforcer that drops the address within D after local expiry, a bag of in-flight messages
// (lost, delayed, duplicated, reordered) and clocks whose rates differ by at most 1 + rho.
// It models the rules as written, not the code; `explore.ts` walks every interleaving.
//
// Time. Real time advances in ticks; at every tick each member's clock advances by one of
// `rates` (chosen per member and per tick, so the rates may vary), e.g. [1, 2]: any interval
// measured on one clock is at most max/min = 1 + rho times the same interval on another
// (rho = 1 with [1, 2]). L and Q are local ticks, D real ticks. No absolute time is kept:
// every deadline is stored as what is left of it on its owner's clock, so the state space is
// finite and two states that differ only by the date are one state.
//
// A state is a flat number[] (fast to copy and to key): per member a block of W numbers,
// then the ghost `everHeld` bit set, then the in-flight messages, sorted, as a set (a message
// delivered may stay in the bag: that is a duplicate).

export type Mutation =
  | 'none'
  // a (re)started member grants and claims at once
  | 'no-quiet'
  // a voter grants a request below its highest epoch
  | 'no-epoch-check'
  // release clears a promise to the sender whatever its epoch
  | 'release-any-epoch';

export interface ModelConfig {
  // voting members, witness included (3)
  readonly voters: number;
  // members 0..holders-1 may claim and hold the address; the others are witnesses
  readonly holders: number;
  // L: lease length on the holder's clock (local ticks)
  readonly lease: number;
  // D: real ticks from a holder's local expiry to its kernel having dropped the address
  readonly drop: number;
  // Q: quiet period and promise length on the voter's clock (local ticks)
  readonly quiet: number;
  // how far a clock may advance in one real tick
  readonly rates: readonly number[];
  // claims pick epochs 1..maxEpoch
  readonly maxEpoch: number;
  // outstanding requests per member (a request leaves its slot on a majority or at age L)
  readonly slots: number;
  // most distinct messages in flight; a send that would exceed it is lost
  readonly maxInFlight: number;
  // restarts allowed in one run (each member's clock rate is fixed at the start, see below)
  readonly maxRestarts: number;
  readonly releases: boolean;
  // true: a clock's rate may change at every tick (any of `rates`); false: each member keeps
  // one rate from `rates` for the whole run (the initial states enumerate every assignment)
  readonly varyingRates: boolean;
  // members start quiet (just booted) rather than long up
  readonly startQuiet: boolean;
  // false: no tick is ever taken (time stands still): a sub-space of the model, small enough
  // to reach the deep release and epoch scenarios, which need no time to pass
  readonly ticks: boolean;
  readonly mutation: Mutation;
}

// Per-member block layout.
const ACTIVE = 0; // epoch of this member's current claim or holding, 0 = idle
const HIGHEST = 1; // highest epoch known (claimed, granted or asked for): memory only
const PTO = 2; // promise: to member + 1, 0 = none (an expired promise is none)
const PEPOCH = 3; // promise epoch
const PLEFT = 4; // promise: local ticks until it expires (> 0)
const QUIET = 5; // local ticks of quiet period left
const LEASE = 6; // the agent's leaseUntil - now, 0 = no lease
const ENF = 7; // the enforcer's deadline - now, while the address is in the kernel
const ADDR = 8; // 1 = the address is in this member's kernel
const OVERDUE = 9; // real ticks since the enforcer's deadline passed (address still there)
const RATE = 10; // this member's clock rate when rates are constant
const SAVED = 11; // epoch in the role record on disk: survives restarts
const SLOT0 = 12; // slots: [epoch (0 = free), age on own clock, grants bit set] each
const SLOT_W = 3;

export const STALE = 15; // slot of a request whose sender no longer waits for its grants

const REQUEST = 1;
const GRANT = 2;
const RELEASE = 3;

export function memberWidth(cfg: ModelConfig): number {
  return SLOT0 + SLOT_W * cfg.slots;
}

// After the member blocks: the ghost everHeld bit set, then the restarts left.
const GLOBALS = 2;

export function messageStart(cfg: ModelConfig): number {
  return cfg.voters * memberWidth(cfg) + GLOBALS;
}

function encode(kind: number, from: number, to: number, epoch: number, slot: number): number {
  return (kind << 14) | (from << 11) | (to << 8) | (epoch << 4) | slot;
}

interface Message {
  readonly kind: number;
  readonly from: number;
  readonly to: number;
  readonly epoch: number;
  readonly slot: number;
}

function decode(m: number): Message {
  return { slot: m & 15, epoch: (m >> 4) & 15, to: (m >> 8) & 7, from: (m >> 11) & 7, kind: m >> 14 };
}

export function describeMessage(m: number): string {
  const d = decode(m);
  const slot = d.slot === STALE ? 'stale' : `s${d.slot}`;
  if (d.kind === REQUEST) return `request(${d.from}->${d.to}, e${d.epoch}, ${slot})`;
  if (d.kind === GRANT) return `grant(${d.from}->${d.to}, s${d.slot})`;
  return `release(${d.from}->${d.to}, e${d.epoch})`;
}

// Nothing promised, nothing held, epoch 0; quiet if `startQuiet`; one state per assignment
// of constant clock rates (one state when rates vary per tick).
export function initialStates(cfg: ModelConfig): number[][] {
  if (cfg.voters > 7 || cfg.maxEpoch > 15 || cfg.slots >= STALE) throw new Error('model bounds too large');
  const w = memberWidth(cfg);
  const m0 = messageStart(cfg);
  const assignments = cfg.varyingRates
    ? [cfg.voters > 0 ? new Array<number>(cfg.voters).fill(0) : []]
    : rateCombos(cfg);
  return assignments.map((rates) => {
    const s = new Array<number>(m0).fill(0);
    for (let i = 0; i < cfg.voters; i++) {
      s[i * w + QUIET] = cfg.startQuiet && cfg.mutation !== 'no-quiet' ? cfg.quiet : 0;
      s[i * w + RATE] = at(rates, i);
    }
    s[m0 - 1] = cfg.maxRestarts;
    return s;
  });
}

// One UTF-16 code unit per number (all are below 2^16): short keys, cheap to build and parse.
export function stateKey(s: readonly number[]): string {
  return String.fromCharCode(...s);
}

export function parseKey(key: string): number[] {
  const s = new Array<number>(key.length);
  for (let i = 0; i < key.length; i++) s[i] = key.charCodeAt(i);
  return s;
}

export function holdersOf(cfg: ModelConfig, s: readonly number[]): number[] {
  const w = memberWidth(cfg);
  const out: number[] = [];
  for (let i = 0; i < cfg.voters; i++) if (s[i * w + ADDR] === 1) out.push(i);
  return out;
}

export function everHeld(cfg: ModelConfig, s: readonly number[]): number {
  return s[messageStart(cfg) - 2] ?? 0;
}

// Reads a field that the layout guarantees (noUncheckedIndexedAccess).
function at(s: readonly number[], i: number): number {
  const v = s[i];
  if (v === undefined) throw new Error(`state index ${i} out of range`);
  return v;
}

function bits(x: number): number {
  let n = 0;
  for (let v = x; v !== 0; v &= v - 1) n++;
  return n;
}

// A successor under construction: the fixed part is edited in place, messages as a set.
class Next {
  readonly fixed: number[];
  msgs: number[];
  overflow = false;
  constructor(
    private readonly cfg: ModelConfig,
    s: readonly number[],
  ) {
    const m = messageStart(cfg);
    this.fixed = s.slice(0, m);
    this.msgs = s.slice(m);
  }
  remove(m: number): void {
    const k = this.msgs.indexOf(m);
    if (k >= 0) this.msgs.splice(k, 1);
  }
  get(i: number, f: number): number {
    return at(this.fixed, i * memberWidth(this.cfg) + f);
  }
  set(i: number, f: number, v: number): void {
    this.fixed[i * memberWidth(this.cfg) + f] = v;
  }
  send(m: number): void {
    if (this.msgs.includes(m)) return;
    // The bag is bounded: a send beyond it marks the step (requests and releases skip such a
    // branch; a grant beyond it is lost, as any message may be).
    if (this.msgs.length >= this.cfg.maxInFlight) this.overflow = true;
    else this.msgs.push(m);
  }
  // A slot is freed: its requests in flight turn stale, its grants in flight mean nothing.
  freeSlot(i: number, k: number): void {
    const base = SLOT0 + k * SLOT_W;
    this.set(i, base, 0);
    this.set(i, base + 1, 0);
    this.set(i, base + 2, 0);
    const kept: number[] = [];
    for (const m of this.msgs) {
      const d = decode(m);
      if (d.slot === k && d.kind === REQUEST && d.from === i) {
        const stale = encode(REQUEST, d.from, d.to, d.epoch, STALE);
        if (!kept.includes(stale) && !this.msgs.includes(stale)) kept.push(stale);
      } else if (!(d.slot === k && d.kind === GRANT && d.to === i)) {
        kept.push(m);
      }
    }
    this.msgs = kept;
  }
  freeAllSlots(i: number): void {
    for (let k = 0; k < this.cfg.slots; k++) if (this.get(i, SLOT0 + k * SLOT_W) !== 0) this.freeSlot(i, k);
  }
  clearPromise(i: number): void {
    this.set(i, PTO, 0);
    this.set(i, PEPOCH, 0);
    this.set(i, PLEFT, 0);
  }
  // The address leaves the kernel: the enforcer has nothing left to watch.
  dropAddress(i: number): void {
    this.set(i, ADDR, 0);
    this.set(i, ENF, 0);
    this.set(i, OVERDUE, 0);
  }
  done(): number[] {
    return this.fixed.concat(this.msgs.sort((a, b) => a - b));
  }
}

// The voter rule, for voter v asked by h at epoch e (h === v: the self-grant).
function grants(cfg: ModelConfig, n: Next, v: number, h: number, e: number): boolean {
  if (n.get(v, QUIET) > 0) return false;
  if (cfg.mutation !== 'no-epoch-check' && e < n.get(v, HIGHEST)) return false;
  const to = n.get(v, PTO);
  if (to !== 0 && to !== h + 1) return false; // an expired promise is stored as none
  if (v !== h && n.get(v, ACTIVE) !== 0) return false; // it holds or claims itself
  return true;
}

function grant(cfg: ModelConfig, n: Next, v: number, h: number, e: number): void {
  n.set(v, PTO, h + 1);
  n.set(v, PEPOCH, e);
  n.set(v, PLEFT, cfg.quiet);
  n.set(v, HIGHEST, e);
}

// The holder rule: a grant for slot k of member h; a majority extends the lease from the
// request's send time (sentAt + L = now + L - age).
function countGrant(cfg: ModelConfig, n: Next, h: number, k: number, from: number): void {
  const base = SLOT0 + k * SLOT_W;
  if (n.get(h, base) === 0) return;
  const got = n.get(h, base + 2) | (1 << from);
  n.set(h, base + 2, got);
  if (bits(got) * 2 <= cfg.voters) return;
  const left = cfg.lease - n.get(h, base + 1);
  n.set(h, LEASE, Math.max(n.get(h, LEASE), left));
  // The enforcer gets the new deadline (the later one, if a restarted agent's is earlier).
  if (n.get(h, ADDR) === 1) {
    n.set(h, ENF, Math.max(n.get(h, ENF), n.get(h, LEASE)));
    n.set(h, OVERDUE, 0);
  }
  // Later grants for this request cannot extend the lease further.
  n.freeSlot(h, k);
}

export interface Step {
  readonly label: string;
  readonly next: number[];
}

// Every action enabled in s. Labels are built only when asked (trace printing).
export function successors(cfg: ModelConfig, s: readonly number[], withLabels = false): Step[] {
  const out: Step[] = [];
  const w = memberWidth(cfg);
  const m0 = messageStart(cfg);
  const push = (label: () => string, n: Next): void => {
    out.push({ label: withLabels ? label() : '', next: n.done() });
  };
  const f = (i: number, field: number): number => at(s, i * w + field);

  for (let i = 0; i < cfg.voters; i++) {
    const canHold = i < cfg.holders;
    // Claim: pick an epoch above the highest known and the one on disk (any: it covers
    // "highest heard + 1"), become a claimant with no lease. Not while quiet. Its requests may
    // go out before the epoch is saved (the save is a step of its own, below). With no
    // restart left the save is taken at once: the unsaved epoch then only delays the assign,
    // which any later step may take anyway, so the reachable holders are the same.
    const restartsLeft = at(s, m0 - 1) > 0;
    if (canHold && f(i, ACTIVE) === 0 && f(i, QUIET) === 0) {
      for (let e = Math.max(f(i, HIGHEST), f(i, SAVED)) + 1; e <= cfg.maxEpoch; e++) {
        const n = new Next(cfg, s);
        n.set(i, HIGHEST, e);
        if (!restartsLeft) n.set(i, SAVED, e);
        n.set(i, ACTIVE, e);
        n.set(i, LEASE, 0);
        push(() => `m${i} claims at epoch ${e}`, n);
      }
    }
    // Request: a claimant or holder asks every voter, counting its own vote if it passes.
    // Each subset of the other voters is a branch: the requests to the rest are lost at once.
    if (f(i, ACTIVE) !== 0) {
      let k = 0;
      while (k < cfg.slots && f(i, SLOT0 + k * SLOT_W) !== 0) k++;
      if (k < cfg.slots) {
        const e = f(i, ACTIVE);
        for (const to of recipientSets(cfg, i)) {
          const n = new Next(cfg, s);
          const base = SLOT0 + k * SLOT_W;
          n.set(i, base, e);
          n.set(i, base + 1, 0);
          n.set(i, base + 2, 0);
          const self = grants(cfg, n, i, i, e);
          for (const v of to) n.send(encode(REQUEST, i, v, e, k));
          if (n.overflow) continue;
          if (self) {
            grant(cfg, n, i, i, e);
            countGrant(cfg, n, i, k, i);
          }
          push(
            () => `m${i} requests at epoch ${e} (s${k}, ${self ? 'self-grant' : 'no self-grant'}, to ${names(to)})`,
            n,
          );
        }
      }
    }
    // Save: the claim's epoch reaches the role record on disk.
    if (f(i, ACTIVE) !== 0 && f(i, SAVED) < f(i, ACTIVE)) {
      const n = new Next(cfg, s);
      n.set(i, SAVED, f(i, ACTIVE));
      push(() => `m${i} saves epoch ${f(i, ACTIVE)}`, n);
    }
    // Assign: only with a lease at the current claim, once its epoch is on disk.
    if (f(i, ACTIVE) !== 0 && f(i, LEASE) > 0 && f(i, ADDR) === 0 && f(i, SAVED) >= f(i, ACTIVE)) {
      const n = new Next(cfg, s);
      n.set(i, ADDR, 1);
      n.set(i, ENF, f(i, LEASE));
      n.set(i, OVERDUE, 0);
      n.fixed[m0 - 2] = at(s, m0 - 2) | (1 << i);
      push(() => `m${i} assigns the address`, n);
    }
    // Enforcer: after the deadline, the address may go at any moment (at the latest D).
    if (f(i, ADDR) === 1 && f(i, ENF) === 0) {
      const n = new Next(cfg, s);
      n.dropAddress(i);
      push(() => `m${i}'s enforcer drops the address`, n);
    }
    // Release: drop the address (confirmed), then release(epoch) to every voter, itself included
    // (each subset of the others is a branch, as for requests).
    if (cfg.releases && f(i, ACTIVE) !== 0) {
      const e = f(i, ACTIVE);
      for (const to of recipientSets(cfg, i)) {
        const n = new Next(cfg, s);
        n.dropAddress(i);
        if (n.get(i, PTO) === i + 1 && (n.get(i, PEPOCH) === e || cfg.mutation === 'release-any-epoch')) {
          n.clearPromise(i);
        }
        for (const v of to) n.send(encode(RELEASE, i, v, e, 0));
        if (n.overflow) continue;
        n.set(i, ACTIVE, 0);
        n.set(i, LEASE, 0);
        n.freeAllSlots(i);
        push(() => `m${i} drops the address and releases epoch ${e} (to ${names(to)})`, n);
      }
    }
    // Restart: forgets promise, lease, claim, requests and every epoch it knew but the one
    // on disk (a claim's epoch not saved yet is lost, and may be claimed again); quiet for Q.
    // The kernel keeps the address and the enforcer its deadline (a dead agent, live kernel).
    if (at(s, m0 - 1) > 0) {
      const n = new Next(cfg, s);
      n.fixed[m0 - 1] = at(s, m0 - 1) - 1;
      n.set(i, ACTIVE, 0);
      n.set(i, HIGHEST, 0);
      n.clearPromise(i);
      n.set(i, LEASE, 0);
      n.set(i, QUIET, cfg.mutation === 'no-quiet' ? 0 : cfg.quiet);
      n.freeAllSlots(i);
      push(() => `m${i} restarts`, n);
    }
  }

  // Messages: deliver (and remove), deliver a copy (the message stays: a duplicate later), lose.
  for (let j = m0; j < s.length; j++) {
    const m = at(s, j);
    const d = decode(m);
    // A duplicate grant changes nothing (grants are counted as a set): grants are not copied.
    for (const keep of d.kind === GRANT ? [false] : [false, true]) {
      const n = new Next(cfg, s);
      if (!keep) n.remove(m);
      if (d.kind === REQUEST) {
        if (grants(cfg, n, d.to, d.from, d.epoch)) {
          grant(cfg, n, d.to, d.from, d.epoch);
          if (d.slot !== STALE) n.send(encode(GRANT, d.to, d.from, 0, d.slot));
        }
      } else if (d.kind === GRANT) {
        if (d.slot !== STALE) countGrant(cfg, n, d.to, d.slot, d.from);
      } else if (n.get(d.to, PTO) === d.from + 1) {
        if (n.get(d.to, PEPOCH) === d.epoch || cfg.mutation === 'release-any-epoch') n.clearPromise(d.to);
      }
      push(() => `deliver ${describeMessage(m)}${keep ? ' (a copy stays in flight)' : ''}`, n);
    }
    const n = new Next(cfg, s);
    n.remove(m);
    push(() => `lose ${describeMessage(m)}`, n);
  }

  // Tick: one real tick; every clock advances by one of the rates.
  if (!cfg.ticks) return out;
  const combos = cfg.varyingRates ? rateCombos(cfg) : [Array.from({ length: cfg.voters }, (_, i) => f(i, RATE))];
  for (const adv of combos) {
    const n = new Next(cfg, s);
    for (let i = 0; i < cfg.voters; i++) {
      const d = at(adv, i);
      const left = n.get(i, PLEFT) - d;
      if (left <= 0) n.clearPromise(i);
      else n.set(i, PLEFT, left);
      n.set(i, QUIET, Math.max(0, n.get(i, QUIET) - d));
      n.set(i, LEASE, Math.max(0, n.get(i, LEASE) - d));
      if (n.get(i, ADDR) === 1) {
        const wasExpired = n.get(i, ENF) === 0;
        n.set(i, ENF, Math.max(0, n.get(i, ENF) - d));
        if (n.get(i, ENF) === 0) {
          const overdue = wasExpired ? n.get(i, OVERDUE) + 1 : 0;
          // D real ticks after the local deadline the address is gone, before anything else.
          if (overdue >= cfg.drop) n.dropAddress(i);
          else n.set(i, OVERDUE, overdue);
        }
      }
      for (let k = 0; k < cfg.slots; k++) {
        const base = SLOT0 + k * SLOT_W;
        if (n.get(i, base) === 0) continue;
        const age = n.get(i, base + 1) + d;
        // At age L a majority would give leaseUntil = sentAt + L <= now: nothing to wait for.
        if (age >= cfg.lease) n.freeSlot(i, k);
        else n.set(i, base + 1, age);
      }
    }
    push(() => `tick (clocks +${adv.join(',')})`, n);
  }
  return out;
}

const names = (to: readonly number[]): string => (to.length ? to.map((v) => `m${v}`).join(',') : 'nobody');

const recipientCache = new WeakMap<ModelConfig, number[][][]>();

// For member i: every subset of the other voters.
function recipientSets(cfg: ModelConfig, i: number): number[][] {
  let byMember = recipientCache.get(cfg);
  if (!byMember) {
    byMember = Array.from({ length: cfg.voters }, (_, m) => {
      const others = Array.from({ length: cfg.voters }, (_, v) => v).filter((v) => v !== m);
      return Array.from({ length: 1 << others.length }, (_, mask) => others.filter((_, b) => mask & (1 << b)));
    });
    recipientCache.set(cfg, byMember);
  }
  return byMember[i] ?? [];
}

const comboCache = new WeakMap<ModelConfig, number[][]>();

function rateCombos(cfg: ModelConfig): number[][] {
  const cached = comboCache.get(cfg);
  if (cached) return cached;
  let combos: number[][] = [[]];
  for (let i = 0; i < cfg.voters; i++) combos = combos.flatMap((c) => cfg.rates.map((r) => [...c, r]));
  comboCache.set(cfg, combos);
  return combos;
}

// Members that may hold are interchangeable (their rates travel with them), so a state and
// its images under a permutation of them are one state: the canonical one is the least key.
export function canonicalKey(cfg: ModelConfig, s: readonly number[]): string {
  let best: readonly number[] = s;
  for (const perm of permutations(cfg)) {
    const image = permute(cfg, s, perm);
    if (lessThan(image, best)) best = image;
  }
  return stateKey(best);
}

// Lexicographic order of equal-length states (the order of their keys).
function lessThan(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const d = at(a, i) - at(b, i);
    if (d !== 0) return d < 0;
  }
  return false;
}

const permCache = new WeakMap<ModelConfig, number[][]>();

// Every permutation of 0..holders-1 but the identity, witnesses fixed.
function permutations(cfg: ModelConfig): number[][] {
  const cached = permCache.get(cfg);
  if (cached) return cached;
  let perms: number[][] = [[]];
  for (let k = 0; k < cfg.holders; k++) {
    perms = perms.flatMap((p) => Array.from({ length: k + 1 }, (_, pos) => [...p.slice(0, pos), k, ...p.slice(pos)]));
  }
  const out = perms
    .map((p) => [...p, ...Array.from({ length: cfg.voters - cfg.holders }, (_, j) => cfg.holders + j)])
    .filter((p) => p.some((v, i) => v !== i));
  permCache.set(cfg, out);
  return out;
}

// Member i of s becomes member perm[i].
function permute(cfg: ModelConfig, s: readonly number[], perm: readonly number[]): number[] {
  const w = memberWidth(cfg);
  const m0 = messageStart(cfg);
  const mapBits = (x: number): number => {
    let y = 0;
    for (let i = 0; i < cfg.voters; i++) if (x & (1 << i)) y |= 1 << at(perm, i);
    return y;
  };
  const out = s.slice();
  for (let i = 0; i < cfg.voters; i++) {
    const to = at(perm, i) * w;
    for (let f = 0; f < w; f++) out[to + f] = at(s, i * w + f);
    const pto = at(s, i * w + PTO);
    out[to + PTO] = pto === 0 ? 0 : at(perm, pto - 1) + 1;
    for (let k = 0; k < cfg.slots; k++)
      out[to + SLOT0 + k * SLOT_W + 2] = mapBits(at(s, i * w + SLOT0 + k * SLOT_W + 2));
  }
  out[m0 - 2] = mapBits(at(s, m0 - 2));
  for (let j = m0; j < s.length; j++) {
    const m = at(s, j);
    out[j] = (m & ~0x3f00) | (at(perm, (m >> 11) & 7) << 11) | (at(perm, (m >> 8) & 7) << 8);
  }
  if (s.length - m0 > 1) {
    const msgs = out.slice(m0).sort((a, b) => a - b);
    for (let j = m0; j < s.length; j++) out[j] = at(msgs, j - m0);
  }
  return out;
}

// One line per member and the bag, for traces.
export function describeState(cfg: ModelConfig, s: readonly number[]): string {
  const w = memberWidth(cfg);
  const parts: string[] = [];
  for (let i = 0; i < cfg.voters; i++) {
    const f = (field: number): number => at(s, i * w + field);
    const role = i < cfg.holders ? '' : ' witness';
    const claim = f(ACTIVE) !== 0 ? ` active@e${f(ACTIVE)}` : ' idle';
    const promise = f(PTO) !== 0 ? ` promise(m${f(PTO) - 1},e${f(PEPOCH)},${f(PLEFT)} left)` : '';
    const quiet = f(QUIET) > 0 ? ` quiet ${f(QUIET)}` : '';
    const lease = f(LEASE) > 0 ? ` lease ${f(LEASE)}` : '';
    const addr =
      f(ADDR) === 1 ? ` ADDRESS(enforcer ${f(ENF)} left${f(ENF) === 0 ? `, ${f(OVERDUE)} overdue` : ''})` : '';
    parts.push(`m${i}${role}:${claim} hi=${f(HIGHEST)} saved=${f(SAVED)}${promise}${quiet}${lease}${addr}`);
  }
  const msgs = s.slice(messageStart(cfg)).map(describeMessage);
  parts.push(`in flight: ${msgs.length ? msgs.join(' ') : '-'}`);
  return parts.join('\n    ');
}
