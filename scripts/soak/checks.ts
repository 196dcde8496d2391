/**
 * The campaign's checkers, over the whole run, from ground truth: the kernel's address and
 * link records, the BMCs' power log, the observer's replies, the files on every server's disk.
 * The agents' own log is read only to learn what each takeover claimed as its basis (a fence,
 * an authenticated release, ...), which is then checked against ground truth. Pure.
 */
import type { AgentEvent, CampaignRecord, FaultRecord, Gate, PowerEvent } from './records.js';
import type { SoakFaultKind } from './schedule.js';

/** An observer gap longer than this is an outage (the observer pings every few ms). */
export const OUTAGE_GAP_MS = 50;
/** A takeover is explained by a fault on the old holder active within this long before it. */
export const CAUSE_WINDOW_MS = 20_000;

/**
 * `spares`: no holder was ever seen and every other member was heard, authenticated and
 * recently, as a spare holding nothing, so the monitor fenced nobody (README, Takeover).
 */
export type Basis = 'fence' | 'release' | 'isolation' | 'lease' | 'spares' | 'none';

/** What each gate accepts before a takeover. */
export const GATE_ACCEPTS: Record<Gate, readonly Basis[]> = {
  confirmed: ['fence', 'release', 'spares'],
  isolated: ['isolation', 'fence', 'release', 'spares'],
  lease: ['lease', 'fence', 'release'],
};

export interface TakeoverCheck {
  server: string;
  atUs: number;
  /** The transition's own words. */
  reason: string;
  basis: Basis;
  /** Fenced, released or isolated members the basis names. */
  subjects: string[];
  ok: boolean;
  problems: string[];
}

export interface SplitBrainInterval {
  startUs: number;
  endUs: number | null;
  ms: number;
  servers: string[];
  /** Faults active meanwhile (ids and kinds): the exposure's causes. */
  faults: string[];
}

export interface LostSync {
  server: string;
  atUs: number;
  file: string;
  /** Versions that had reached another server (acknowledged) but not this new primary. */
  versions: number[];
  /**
   * The new primary logged no completed sync between becoming monitor and taking over: the
   * README's known limit (a monitor that never completed a sync serves what it has).
   */
  neverSynced: boolean;
}

export interface LossWindow {
  server: string;
  atUs: number;
  /** Writes to the old primary not yet on the new one (replication is periodic). */
  unsyncedWrites: number;
  /** From the oldest such write to the claim. */
  windowMs: number;
}

export interface Outage {
  fromUs: number;
  toUs: number;
  ms: number;
}

export interface FaultOutcome {
  id: number;
  kind: SoakFaultKind;
  target: string | null;
  targetRole: string | null;
  /** From the fault's removal (or an instant fault's injection) to the primary address answering with one primary and one monitor. */
  recoveryMs: number | null;
  /** Observer outage time within the fault and its recovery. */
  outageMs: number;
}

export interface Failover {
  atUs: number;
  from: string;
  to: string;
  spurious: boolean;
  /** Faults that explain it (on the old holder, or the whole cluster's power). */
  causes: string[];
  /** Faults active meanwhile that do not explain it (LAN loss, clock steps, ...). */
  during: string[];
}

export interface Checks {
  gate: Gate;
  spanMs: number;
  faults: {
    started: number;
    done: number;
    failed: number;
    skipped: number;
    byKind: Record<string, { done: number; failed: number; skipped: number }>;
  };
  splitBrain: { intervals: SplitBrainInterval[]; totalMs: number };
  takeovers: { checks: TakeoverCheck[]; violations: number };
  claims: number;
  sync: {
    writes: number;
    writesFailed: number;
    acknowledged: number;
    lost: LostSync[];
    lostVersions: number;
    /**
     * Lost although the new primary took over as a monitor that had completed a sync in that
     * term, counted at the first change that lost each version: not the known limit.
     */
    lostVersionsAfterSync: number;
    windows: LossWindow[];
  };
  torn: Array<{ atUs: number; server: string; file: string; why: string }>;
  availability: { percent: number; outages: Outage[]; longestMs: number; totalOutageMs: number };
  recovery: {
    outcomes: FaultOutcome[];
    byKind: Record<
      string,
      { n: number; p50: number | null; p95: number | null; max: number | null; unrecovered: number }
    >;
  };
  failovers: { list: Failover[]; spurious: number };
  /** Monitors that began confirming a failure just after a stranger's forged ARP. */
  forgedArp: ForgedArpDetections;
  agentExits: CampaignRecord['agentExits'];
  fatal: AgentEvent[];
  anomalies: CampaignRecord['anomalies'];
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
}

/**
 * Power state of `server` at `atUs` (on before any power event): by default when its links
 * had changed (`doneUs`); with `chassis`, when the chassis state changed, which is what its
 * BMC reads from then on (the links follow a few ms later).
 */
function poweredAt(power: readonly PowerEvent[], server: string, atUs: number, chassis = false): boolean {
  let on = true;
  for (const event of power) {
    if (event.server !== server) continue;
    const changedUs = chassis ? (event.requestedUs ?? event.doneUs) : event.doneUs;
    if (changedUs > atUs) continue;
    on = event.on;
  }
  return on;
}

/** Servers holding the primary address in their kernel at `atUs` (address records). */
/** A holder on a usable link that appears this soon after a claim is the claim's doing. */
const SPLIT_SLACK_US = 50_000;

function kernelHolders(record: CampaignRecord, atUs: number): Set<string> {
  const holding = new Set<string>();
  for (const event of record.primaryAddress) {
    if (event.atUs > atUs) break;
    if (event.added) holding.add(event.server);
    else holding.delete(event.server);
  }
  return holding;
}

function faultLabel(fault: FaultRecord): string {
  return `#${fault.id} ${fault.kind}${fault.target === null ? '' : ` ${fault.target}`}`;
}

function activeBetween(fault: FaultRecord, fromUs: number, toUs: number): boolean {
  return fault.status === 'done' && fault.appliedUs <= toUs && Math.max(fault.endUs, fault.appliedUs) >= fromUs;
}

export function checkTakeovers(record: CampaignRecord): TakeoverCheck[] {
  const checks: TakeoverCheck[] = [];
  const accepts = GATE_ACCEPTS[record.gate];
  const power = [...record.power].sort((a, b) => a.doneUs - b.doneUs);
  const byServer = new Map<string, AgentEvent[]>();
  for (const event of record.agentEvents) byServer.set(event.server, [...(byServer.get(event.server) ?? []), event]);
  for (const [server, events] of byServer) {
    events.forEach((event, index) => {
      if (
        event.event !== 'transition' ||
        !/ -> primary:/.test(event.message) ||
        !event.message.startsWith('confirming')
      )
        return;
      // The entry into `confirming` that this takeover completes.
      let entry: AgentEvent | undefined;
      for (let i = index - 1; i >= 0; i -= 1) {
        const e = events[i];
        if (e?.event === 'transition' && / -> confirming:/.test(e.message)) {
          entry = e;
          break;
        }
      }
      const reason = entry?.message ?? '(no entry into confirming in the log)';
      const problems: string[] = [];
      let basis: Basis = 'none';
      let subjects: string[] = [];
      const fenced = /-> confirming: fenced (.+?) \(/.exec(reason);
      const released = /-> confirming: (\S+) released the primary address/.exec(reason);
      // The isolated gate's fence ends at the switch port's read-back: "fenced c (cut off at ...".
      if (/isolat/i.test(reason) || / \(cut off at /.test(reason)) {
        basis = 'isolation';
        subjects = fenced === null ? [] : (fenced[1] ?? '').split(',').map((s) => s.trim());
      } else if (/lease/i.test(reason)) basis = 'lease';
      else if (fenced !== null) {
        basis = 'fence';
        subjects = (fenced[1] ?? '').split(',').map((s) => s.trim());
      } else if (released !== null) {
        basis = 'release';
        subjects = [released[1] ?? ''];
      } else if (/-> confirming: every other member is a spare holding nothing/.test(reason) && entry !== undefined) {
        basis = 'spares';
        subjects = excusedSpares(events.slice(0, events.indexOf(entry) + 1));
      }
      if (!accepts.includes(basis)) problems.push(`basis ${basis} is not accepted by the ${record.gate} gate`);
      const claimUs = event.atUs;
      if (basis === 'fence' && entry !== undefined) {
        for (const target of subjects) {
          const done = events
            .slice(0, events.indexOf(entry) + 1)
            .filter(
              (e) => e.event === 'fence-done' && (e.target === target || e.message.startsWith(`fenced ${target}:`)),
            )
            .at(-1);
          if (done === undefined || done.atUs < entry.atUs - 600_000_000) {
            problems.push(`no fence-done for ${target} before the takeover`);
            continue;
          }
          // Ground truth: the BMC's chassis had the target off when the fence was reported done
          // (its links go down a few ms later; the check below covers the claim itself).
          if (poweredAt(power, target, done.atUs, true))
            problems.push(`${target} was powered when its fence was reported done`);
        }
      }
      if (basis === 'release') {
        const holder = subjects[0] ?? '';
        if (kernelHolders(record, claimUs).has(holder) && poweredAt(power, holder, claimUs))
          problems.push(`${holder} still held the primary address when ${server} took over after its release`);
      }
      // Ground truth: an excused spare held the primary address at no instant from the
      // decision to the claim (the general check below looks only at the claim itself).
      if (basis === 'spares' && entry !== undefined) {
        if (subjects.length === 0) problems.push('no primary-down-unknown-holder event names the excused spares');
        for (const spare of subjects) {
          if (heldBetween(record, spare, entry.atUs, claimUs))
            problems.push(
              `${spare}, excused as a spare holding nothing, held the primary address before ${server} took over`,
            );
        }
      }
      // Ground truth, whatever the agent said: nobody else powered holds the address at the
      // claim; after an isolation, nobody else holds it on a usable link (the cut-off server
      // may still run with the address until its power-off). Under the isolated gate the same
      // goes for a powered holder that another member's isolation had cut off, whatever this
      // claim's own basis (a monitor that fenced the holder it saw, beside an older primary
      // still cut off while its slow BMC powers it off).
      for (const other of kernelHolders(record, claimUs)) {
        if (other === server || !poweredAt(power, other, claimUs)) continue;
        if (basis !== 'isolation' && !(record.gate === 'isolated' && cutOffAt(record, other, claimUs)))
          problems.push(`${other} (powered) held the primary address in its kernel when ${server} took over`);
        else if (
          record.splitBrain.some(
            (v) =>
              v.servers.includes(other) &&
              v.servers.includes(server) &&
              v.startUs <= claimUs + SPLIT_SLACK_US &&
              (v.endUs ?? Infinity) >= claimUs,
          )
        )
          problems.push(
            `${other} held the primary address on a usable link when ${server} took over after its isolation`,
          );
      }
      checks.push({ server, atUs: claimUs, reason, basis, subjects, ok: problems.length === 0, problems });
    });
  }
  return checks.sort((a, b) => a.atUs - b.atUs);
}

/**
 * The members the last `primary-down-unknown-holder` event before a no-fence takeover names as
 * spares holding nothing ("... every other member (b, c) is heard as a spare holding nothing").
 */
function excusedSpares(events: readonly AgentEvent[]): string[] {
  const decision = events.filter((e) => e.event === 'primary-down-unknown-holder').at(-1);
  const named =
    decision === undefined ? null : /every other member \(([^)]*)\) is heard as a spare/.exec(decision.message);
  return named === null
    ? []
    : (named[1] ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
}

/** Whether `server`'s kernel held the primary address at any instant of [fromUs, toUs]. */
function heldBetween(record: CampaignRecord, server: string, fromUs: number, toUs: number): boolean {
  return (
    kernelHolders(record, fromUs).has(server) ||
    record.primaryAddress.some((c) => c.server === server && c.added && c.atUs >= fromUs && c.atUs <= toUs)
  );
}

/**
 * Whether a member's isolating fence had cut `server` off before `atUs` ("fenced X: cut off at
 * switch ...") with no power change of `server` since: the fence reconnects the port only once
 * the power reads off, so until then the cut holds (a harness that re-enables the port is seen
 * by the usable-link check, which still applies).
 */
function cutOffAt(record: CampaignRecord, server: string, atUs: number): boolean {
  const cut = record.agentEvents
    .filter(
      (e) =>
        e.event === 'fence-done' &&
        e.atUs <= atUs &&
        (e.target === server || e.message.startsWith(`fenced ${server}:`)) &&
        e.message.includes(': cut off at '),
    )
    .at(-1);
  if (cut === undefined) return false;
  return !record.power.some(
    (p) => p.server === server && Math.min(p.requestedUs ?? p.doneUs, p.doneUs) > cut.atUs && p.doneUs <= atUs,
  );
}

/**
 * Whether `server` took the primary address as the monitor it still was, having logged a
 * completed sync in that term: since it last became monitor it went through no boot, halt,
 * link loss or spare (a server that booted afresh and claimed a silent address at boot
 * serves what it had, whatever it synced in an earlier term: the known limit).
 */
function syncedAsMonitor(record: CampaignRecord, server: string, atUs: number): boolean {
  const own = record.agentEvents.filter((e) => e.server === server && e.atUs <= atUs);
  const becameMonitor = own.filter((e) => e.event === 'transition' && / -> monitor:/.test(e.message)).at(-1);
  if (becameMonitor === undefined) return false;
  const since = own.filter((e) => e.atUs >= becameMonitor.atUs);
  const leftTerm = since.some(
    (e) => e.event === 'transition' && / -> (booting|boot-wait|halted|link-down|spare)\b/.test(e.message),
  );
  return !leftTerm && since.some((e) => e.event === 'synced');
}

/**
 * Each version at the first change of primary that lost it: a version lost once stays
 * missing on every later primary that descends from that one, and is not a new loss there.
 */
function firstLosses(lost: readonly LostSync[]): LostSync[] {
  const seen = new Set<string>();
  return lost.map((l) => {
    const versions = l.versions.filter((v) => !seen.has(`${l.file}#${v}`));
    for (const v of l.versions) seen.add(`${l.file}#${v}`);
    return { ...l, versions };
  });
}

export function checkSync(record: CampaignRecord): Checks['sync'] {
  const writer = new Map<string, string>();
  const writtenAt = new Map<string, number>();
  for (const w of record.writes) {
    if (!w.ok) continue;
    writer.set(`${w.file}#${w.version}`, w.server);
    writtenAt.set(`${w.file}#${w.version}`, w.atUs);
  }
  // A version is acknowledged once it is on the disk of the server that held the monitor
  // address then (the standby a sync serves), not the one it was written to. A copy that
  // reaches a spare (a pull that was under way when its monitor stepped down) is no ack.
  const acked = new Map<string, number>();
  let sample = 0;
  for (const seen of record.files) {
    if (seen.version === null) continue;
    while ((record.holders[sample + 1]?.atUs ?? Infinity) <= seen.atUs) sample += 1;
    const monitors = record.holders[sample]?.monitorUp ?? [];
    const key = `${seen.file}#${seen.version}`;
    const origin = writer.get(key);
    if (origin !== undefined && origin !== seen.server && monitors.includes(seen.server) && !acked.has(key))
      acked.set(key, seen.atUs);
  }
  const lost: LostSync[] = [];
  const windows: LossWindow[] = [];
  const claims = record.primaryAddress.filter((e) => e.added);
  record.eras.forEach((era, index) => {
    if (index === 0) return;
    // The claim this change of holder follows: the holder is seen by a 200 ms sample, so its
    // claim is the last one up to a second after the sample.
    const claimUs =
      claims.filter((c) => c.server === era.server && c.atUs <= era.atUs + 1_000_000).at(-1)?.atUs ?? era.atUs;
    let unsynced = 0;
    let oldestUs = Infinity;
    for (const [file, has] of Object.entries(era.versions)) {
      const have = has ?? 0;
      const missing: number[] = [];
      for (const [key, atUs] of acked) {
        const [name, v] = key.split('#');
        const version = Number(v);
        if (name === file && version > have && atUs <= claimUs) missing.push(version);
      }
      if (missing.length > 0)
        lost.push({
          server: era.server,
          atUs: era.atUs,
          file,
          versions: missing.sort((a, b) => a - b),
          neverSynced: !syncedAsMonitor(record, era.server, claimUs),
        });
      for (const w of record.writes) {
        const key = `${w.file}#${w.version}`;
        if (!w.ok || w.file !== file || w.version <= have || w.atUs > claimUs) continue;
        if (acked.has(key) && (acked.get(key) ?? 0) <= claimUs) continue;
        unsynced += 1;
        oldestUs = Math.min(oldestUs, w.atUs);
      }
    }
    windows.push({
      server: era.server,
      atUs: era.atUs,
      unsyncedWrites: unsynced,
      windowMs: unsynced === 0 ? 0 : (claimUs - oldestUs) / 1000,
    });
  });
  return {
    writes: record.writes.length,
    writesFailed: record.writes.filter((w) => !w.ok).length,
    acknowledged: acked.size,
    lost,
    lostVersions: lost.reduce((sum, l) => sum + l.versions.length, 0),
    lostVersionsAfterSync: firstLosses(lost)
      .filter((l) => !l.neverSynced)
      .reduce((sum, l) => sum + l.versions.length, 0),
    windows,
  };
}

export function outages(record: CampaignRecord, gapMs = OUTAGE_GAP_MS): Outage[] {
  const list: Outage[] = [];
  let previous = record.startUs;
  const replies = record.replies.filter((r) => r.t >= record.startUs && r.t <= record.endUs);
  for (const reply of replies) {
    if (reply.t - previous > gapMs * 1000)
      list.push({ fromUs: previous, toUs: reply.t, ms: (reply.t - previous) / 1000 });
    previous = reply.t;
  }
  if (record.endUs - previous > gapMs * 1000)
    list.push({ fromUs: previous, toUs: record.endUs, ms: (record.endUs - previous) / 1000 });
  return list;
}

function recoveries(record: CampaignRecord, outageList: readonly Outage[]): FaultOutcome[] {
  const converged = record.holders.map((h) => ({
    atUs: h.atUs,
    ok: h.primaryUp.length === 1 && h.monitorUp.length === 1 && h.primaryUp[0] !== h.monitorUp[0],
  }));
  const replies = record.replies;
  const firstReplyAfter = (atUs: number): number | null => {
    let low = 0;
    let high = replies.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((replies[mid]?.t ?? Infinity) < atUs) low = mid + 1;
      else high = mid;
    }
    return replies[low]?.t ?? null;
  };
  return record.faults
    .filter((f) => f.status === 'done')
    .map((fault) => {
      const endUs = Math.max(fault.endUs, fault.appliedUs);
      // The holder samples record changes only: the state at endUs is the last sample before it.
      let state = converged.filter((c) => c.atUs <= endUs).at(-1)?.ok ?? false;
      let convergedUs: number | null = state ? endUs : null;
      if (!state) {
        for (const c of converged) {
          if (c.atUs < endUs) continue;
          state = c.ok;
          if (state) {
            convergedUs = c.atUs;
            break;
          }
        }
      }
      const reply = firstReplyAfter(endUs);
      const recoveredUs = convergedUs === null || reply === null ? null : Math.max(convergedUs, reply);
      const windowEnd = recoveredUs ?? record.endUs;
      const outageMs = outageList
        .filter((o) => o.toUs >= fault.appliedUs && o.fromUs <= windowEnd)
        .reduce((sum, o) => sum + (Math.min(o.toUs, windowEnd) - Math.max(o.fromUs, fault.appliedUs)) / 1000, 0);
      return {
        id: fault.id,
        kind: fault.kind,
        target: fault.target,
        targetRole: fault.targetRole,
        recoveryMs: recoveredUs === null ? null : (recoveredUs - endUs) / 1000,
        outageMs: Math.max(0, outageMs),
      };
    });
}

/** Explaining faults for a change of holder from `from`: its own faults, or the whole cluster's power. */
const EXPLAINS_CLUSTER: ReadonlySet<SoakFaultKind> = new Set(['power-cycle-all']);

export function failovers(record: CampaignRecord): Failover[] {
  const list: Failover[] = [];
  record.eras.forEach((era, index) => {
    const previous = record.eras[index - 1];
    if (previous === undefined || previous.server === era.server) return;
    const fromUs = era.atUs - CAUSE_WINDOW_MS * 1000;
    const active = record.faults.filter((f) => activeBetween(f, fromUs, era.atUs));
    const causes = active.filter(
      (f) => (f.target === previous.server && f.kind !== 'clock-step') || EXPLAINS_CLUSTER.has(f.kind),
    );
    const during = active.filter((f) => !causes.includes(f));
    list.push({
      atUs: era.atUs,
      from: previous.server,
      to: era.server,
      spurious: causes.length === 0,
      causes: causes.map(faultLabel),
      during: during.map(faultLabel),
    });
  });
  return list;
}

/** A detection this soon after a forged ARP is counted as caused by it. */
export const FORGED_ARP_WINDOW_MS = 300;

export interface ForgedArpDetections {
  /** Forged-ARP faults injected. */
  faults: number;
  /** Of which followed within FORGED_ARP_WINDOW_MS by a monitor entering `confirming`. */
  followed: Array<{ fault: number; server: string; afterMs: number }>;
  /** How many would be followed by chance, at the run's rate of detections. */
  byChance: number;
}

/**
 * Forged ARP against the monitors, from the agents' own words: the failover check's cause
 * window (any fault on the old primary within 20 s) explains nearly every failover when a
 * fault starts every 1.6 s, so a stranger's forged ARP that makes a monitor miss a healthy
 * primary would hide there. A monitor entering `confirming` within FORGED_ARP_WINDOW_MS of
 * a forged ARP is counted, next to what the run's rate of detections gives by chance.
 */
export function forgedArpDetections(record: CampaignRecord): ForgedArpDetections {
  const forged = record.faults.filter((f) => f.kind === 'forged-arp' && f.status === 'done');
  const detections = record.agentEvents.filter((e) => e.event === 'transition' && e.to === 'confirming');
  const windowUs = FORGED_ARP_WINDOW_MS * 1000;
  const followed: ForgedArpDetections['followed'] = [];
  for (const fault of forged) {
    const first = detections.find((e) => e.atUs >= fault.appliedUs && e.atUs <= fault.appliedUs + windowUs);
    if (first !== undefined)
      followed.push({ fault: fault.id, server: first.server, afterMs: (first.atUs - fault.appliedUs) / 1000 });
  }
  const spanUs = record.endUs - record.startUs;
  const byChance = spanUs > 0 ? (detections.length * windowUs * forged.length) / spanUs : 0;
  return { faults: forged.length, followed, byChance };
}

export function runChecks(record: CampaignRecord): Checks {
  const byKind: Checks['faults']['byKind'] = {};
  for (const fault of record.faults) {
    const entry = (byKind[fault.kind] ??= { done: 0, failed: 0, skipped: 0 });
    entry[fault.status] += 1;
  }
  const spanUs = record.endUs - record.startUs;
  const splitIntervals: SplitBrainInterval[] = record.splitBrain
    .filter((v) => (v.endUs ?? record.endUs) >= record.startUs)
    .map((v) => ({
      ...v,
      ms: ((v.endUs ?? record.endUs) - v.startUs) / 1000,
      faults: record.faults
        .filter((f) => activeBetween(f, v.startUs - 1_000_000, v.endUs ?? record.endUs))
        .map(faultLabel),
    }));
  const takeovers = checkTakeovers(record);
  const outageList = outages(record);
  const totalOutageUs = outageList.reduce((sum, o) => sum + (o.toUs - o.fromUs), 0);
  const outcomes = recoveries(record, outageList);
  const recoveryByKind: Checks['recovery']['byKind'] = {};
  for (const kind of new Set(outcomes.map((o) => o.kind))) {
    const of = outcomes.filter((o) => o.kind === kind);
    const times = of
      .map((o) => o.recoveryMs)
      .filter((v): v is number => v !== null)
      .sort((a, b) => a - b);
    recoveryByKind[kind] = {
      n: of.length,
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      max: times.at(-1) ?? null,
      unrecovered: of.length - times.length,
    };
  }
  const failoverList = failovers(record);
  return {
    gate: record.gate,
    spanMs: spanUs / 1000,
    faults: {
      started: record.faults.filter((f) => f.status !== 'skipped').length,
      done: record.faults.filter((f) => f.status === 'done').length,
      failed: record.faults.filter((f) => f.status === 'failed').length,
      skipped: record.faults.filter((f) => f.status === 'skipped').length,
      byKind,
    },
    splitBrain: { intervals: splitIntervals, totalMs: splitIntervals.reduce((sum, v) => sum + v.ms, 0) },
    takeovers: { checks: takeovers, violations: takeovers.filter((t) => !t.ok).length },
    claims: record.primaryAddress.filter((e) => e.added && e.atUs >= record.startUs).length,
    sync: checkSync(record),
    torn: record.files
      .filter((f) => f.torn !== undefined)
      .map((f) => ({ atUs: f.atUs, server: f.server, file: f.file, why: f.torn ?? '' })),
    availability: {
      percent: spanUs > 0 ? 100 * (1 - totalOutageUs / spanUs) : 0,
      outages: outageList,
      longestMs: Math.max(0, ...outageList.map((o) => o.ms)),
      totalOutageMs: totalOutageUs / 1000,
    },
    recovery: { outcomes, byKind: recoveryByKind },
    failovers: { list: failoverList, spurious: failoverList.filter((f) => f.spurious).length },
    forgedArp: forgedArpDetections(record),
    // Exits the campaign caused (agent-crash: SIGKILL, which unshare reports as exit code 1) are not counted.
    agentExits: record.agentExits.filter(
      (e) =>
        !e.expected &&
        !record.faults.some(
          (f) =>
            f.kind === 'agent-crash' &&
            f.target === e.server &&
            e.atUs >= f.appliedUs - 100_000 &&
            e.atUs <= f.appliedUs + 2_000_000,
        ) &&
        // Nor the harness's restarts of halted agents (SIGTERM: a clean exit).
        !record.anomalies.some(
          (a) =>
            a.server === e.server && a.what.includes('restarted') && e.atUs >= a.atUs && e.atUs <= a.atUs + 2_000_000,
        ),
    ),
    fatal: record.agentEvents.filter((e) => e.event === 'fatal'),
    anomalies: record.anomalies,
  };
}
