/**
 * The fault campaign (issue 13): a lab of real agents, BMCs and switch; faults from a seeded
 * schedule, several at once; replicated files written throughout; ground truth recorded for
 * the checkers (checks.ts). `runCampaign` owns the lab and the tmpfs mounts and removes them,
 * also when it fails.
 */
import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { HALT_RETRY_US } from '../../src/role/index.js';
import { nextRandom } from '../../hal/base/random.js';
import { agentLog, roles } from '../lab/cluster.js';
import { monoUs, sleep } from '../lab/exec.js';
import { startLab } from '../lab/lab.js';
import type { Lab } from '../lab/lab.js';
import { repoRoot } from '../lab/paths.js';
import { PRIMARY_ADDRESS, bare } from '../lab/topology.js';
import { SoakDisks } from './disks.js';
import { FILE_COUNT, decodeVersion, encodeVersion, fileName } from './files.js';
import { controlRequest, inject } from './injectors.js';
import type { InjectContext } from './injectors.js';
import type {
  AgentEvent,
  Anomaly,
  CampaignRecord,
  EraStart,
  FaultRecord,
  FileObservation,
  Gate,
  HolderSample,
  WriteRecord,
} from './records.js';
import { BMC_FAULTS, BRIDGE_FAULTS, SERVER_FAULTS, makeSchedule } from './schedule.js';
import type { PlannedFault, SoakFaultKind } from './schedule.js';

export interface CampaignOptions {
  seed: number;
  gate: Gate;
  /** Stop injecting once this many faults were started (0: no limit). */
  faults: number;
  /** Stop injecting after this long (0: no limit). */
  durationMs: number;
  /** Mean time between fault starts. */
  meanGapMs: number;
  /** After the last fault is undone: wait at most this long for one primary and one monitor. */
  settleMs: number;
  observerIntervalMs: number;
  log: (line: string) => void;
  keepRunDir?: boolean;
}

const TICK_MS = 200;
const WATCHDOG_MS = 3000;
/** Agent log events the checkers read; every error-level line is kept as well. */
const KEPT_EVENTS = new Set([
  'transition',
  'fence-start',
  'fence-done',
  'fence-error',
  'fence-failed',
  'fence-refused',
  'fatal',
  'test-clock-step',
  'synced',
  'sync-failed',
  'isolation-done',
  'isolation-confirmed',
  'lease-expired',
  'primary-down-unknown-holder',
]);

/** Whether the built config loader knows `fencing.gate` (main has only the implicit `confirmed` gate today). */
export function gateKeySupported(): boolean {
  try {
    return /['"]gate['"]/.test(readFileSync(join(repoRoot(), 'dist/src/config/load.js'), 'utf8'));
  } catch {
    return false;
  }
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignRecord> {
  const servers = ['a', 'b', 'c'];
  const gateInConfig = gateKeySupported();
  if (options.gate !== 'confirmed' && !gateInConfig)
    throw new Error(
      `gate ${options.gate}: this build's config has no fencing.gate (only the implicit confirmed gate); build a version that has it`,
    );
  const disks = await SoakDisks.create(servers);
  // TEST ONLY: lets the campaign step the agents' wall clocks (src/cli/test-hooks.ts).
  const previousHook = process.env['HOTSPARE_TEST_CLOCK_STEP'];
  process.env['HOTSPARE_TEST_CLOCK_STEP'] = '1';
  let lab: Lab | null = null;
  try {
    const keyFile = join(disks.root, 'sync.key');
    await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const config = {
      probe: { interval_ms: 10, timeout_ms: 20, misses: 5 },
      boot: { jitter_ms: 200, check_ms: 50 },
      fencing: { retry_ms: 300, retry_max_ms: 2000, ...(gateInConfig ? { gate: options.gate } : {}) },
      sync: { every_probes: 50, key_file: keyFile, timeout_ms: 5000 },
      // The lease gate's timing, wider than the defaults for a machine this loaded: a lease of
      // 200 ms renewed every 20 ms, 30 ms for the enforcer to drop the address.
      ...(options.gate === 'lease' ? { lease: { duration_ms: 200, renew_ms: 20, drop_ms: 30 } } : {}),
    };
    lab = await startLab({
      servers,
      config,
      configure: (server, c) => ({
        ...c,
        state_dir: disks.stateDir(server),
        sync: { ...c.sync, paths: [disks.dataDir(server)] },
      }),
      // The isolated gate needs its device: each member's switch port, shut through SNMP.
      ...(options.gate === 'isolated' ? { switchSnmp: true, isolation: true } : {}),
      observerIntervalMs: options.observerIntervalMs,
      keepRunDir: options.keepRunDir ?? false,
      log: (line) => options.log(`lab: ${line}`),
    });
    return await new Campaign(lab, disks, options, gateInConfig, config).run();
  } finally {
    if (previousHook === undefined) delete process.env['HOTSPARE_TEST_CLOCK_STEP'];
    else process.env['HOTSPARE_TEST_CLOCK_STEP'] = previousHook;
    await lab?.stop().catch((error: unknown) => options.log(`lab stop: ${String(error)}`));
    await disks.remove().catch((error: unknown) => options.log(`tmpfs removal: ${String(error)}`));
  }
}

class Campaign {
  private readonly faults: FaultRecord[] = [];
  private readonly holders: HolderSample[] = [];
  private readonly writes: WriteRecord[] = [];
  private readonly files: FileObservation[] = [];
  private readonly eras: EraStart[] = [];
  private readonly anomalies: Anomaly[] = [];
  private readonly lastSeen = new Map<string, string>();
  private readonly versions = new Map<string, number>();
  private readonly serverSlot = new Map<string, SoakFaultKind>();
  private readonly bmcSlot = new Set<string>();
  private readonly diskSlot = new Set<string>();
  private readonly clusterSlot = new Set<SoakFaultKind>();
  private readonly agentMissingSince = new Map<string, number>();
  private readonly tasks = new Set<Promise<void>>();
  private eraHolder: string | null = null;
  private tickCount = 0;
  private readonly statusAsked = new Set<string>();
  private readonly haltedSince = new Map<string, number>();
  private writeCursor = 0;
  private ticking = true;
  private startUs = 0;
  private readonly startedAt = new Date().toISOString();
  private readonly context: InjectContext;

  constructor(
    private readonly lab: Lab,
    private readonly disks: SoakDisks,
    private readonly options: CampaignOptions,
    private readonly gateInConfig: boolean,
    private readonly config: Record<string, unknown>,
  ) {
    this.context = { lab, diskOf: (server) => disks.diskOf(server), log: options.log };
  }

  async run(): Promise<CampaignRecord> {
    const { lab, options } = this;
    await lab.waitFor(() => roles(lab), 60_000, 'one primary and one monitor at the start', 100);
    this.startUs = monoUs();
    options.log(`campaign: seed ${options.seed}, gate ${options.gate}, started`);
    const ticker = this.tickLoop();
    await this.inject();
    await Promise.all([...this.tasks]);
    const lastUs = monoUs();
    options.log(`campaign: faults over; settling (at most ${options.settleMs} ms)`);
    await lab
      .waitFor(() => roles(lab), options.settleMs, 'one primary and one monitor after the faults', 100)
      .catch((error: unknown) =>
        this.anomalies.push({ atUs: monoUs(), server: null, what: `did not settle: ${String(error)}` }),
      );
    // A little longer, so the last syncs and the settled state are in the record.
    await sleep(3000);
    this.ticking = false;
    await ticker;
    options.log(`campaign: settled ${((monoUs() - lastUs) / 1e6).toFixed(1)} s after the last fault`);
    return this.record();
  }

  // ------------------------------------------------------------------ faults

  private async inject(): Promise<void> {
    const { options } = this;
    const count =
      options.faults > 0 ? options.faults * 3 : Math.ceil((options.durationMs / options.meanGapMs) * 3) + 50;
    const plan = makeSchedule({ seed: options.seed, count, meanGapMs: options.meanGapMs });
    let started = 0;
    for (const planned of plan) {
      if (options.faults > 0 && started >= options.faults) break;
      if (options.durationMs > 0 && planned.atMs > options.durationMs) break;
      const dueUs = this.startUs + planned.atMs * 1000;
      const waitMs = (dueUs - monoUs()) / 1000;
      if (waitMs > 0) await sleep(waitMs);
      if (!this.start(planned)) continue;
      started += 1;
      if (started % 50 === 0)
        options.log(`campaign: ${started} faults started, ${((monoUs() - this.startUs) / 60e6).toFixed(1)} min`);
    }
  }

  /** Starts one planned fault if a target and its slots are free; records it either way. */
  private start(planned: PlannedFault): boolean {
    const record: FaultRecord = {
      id: planned.id,
      kind: planned.kind,
      want: planned.want,
      target: null,
      targetRole: null,
      params: planned.params,
      plannedAtMs: planned.atMs,
      status: 'skipped',
      detail: '',
      startUs: monoUs(),
      appliedUs: 0,
      endUs: 0,
    };
    const why = this.place(planned, record);
    if (why !== null) {
      record.detail = why;
      this.faults.push(record);
      return false;
    }
    record.status = 'done';
    this.faults.push(record);
    const release = this.take(planned.kind, record.target);
    const task = this.carryOut(planned, record).finally(() => {
      release();
      this.tasks.delete(task);
    });
    this.tasks.add(task);
    return true;
  }

  private async carryOut(planned: PlannedFault, record: FaultRecord): Promise<void> {
    try {
      const undo = await inject(this.context, planned.kind, record.target, planned.params);
      // A link flap is done by the time inject returns: it began with the first cut.
      record.appliedUs = planned.kind === 'link-flap' ? record.startUs : monoUs();
      const instant = planned.kind === 'agent-crash' || planned.kind === 'link-flap' || planned.kind === 'clock-step';
      if (instant) {
        record.endUs = planned.kind === 'link-flap' ? monoUs() : record.appliedUs;
        // A crashed agent's server keeps its slot a while (the lab restarts the agent).
        if (planned.kind === 'agent-crash') await sleep(planned.durationMs);
        await undo();
        return;
      }
      await sleep(planned.durationMs);
      await undo();
      record.endUs = monoUs();
    } catch (error) {
      record.status = 'failed';
      record.detail = error instanceof Error ? error.message : String(error);
      record.endUs = monoUs();
      if (record.appliedUs === 0) record.appliedUs = record.endUs;
    }
  }

  /** Picks the target (null when there is none to hit); returns why it cannot start, or null. */
  private place(planned: PlannedFault, record: FaultRecord): string | null {
    const { kind } = planned;
    const lab = this.lab;
    if (this.clusterSlot.has('power-cycle-all') && kind !== 'clock-step') return 'every server is being power-cycled';
    if (planned.want === null) {
      if (this.clusterSlot.has(kind)) return `a ${kind} is already on`;
      if (kind === 'lan-impair' && [...this.serverSlot.values()].some((k) => BRIDGE_FAULTS.has(k)))
        return 'a fault on the bridge ports is on';
      return null;
    }
    if (BRIDGE_FAULTS.has(kind) && this.clusterSlot.has('lan-impair'))
      return 'the LAN is carried by the impairing switch';
    const last = this.holders.at(-1);
    const roleOf = (server: string): string => {
      if (last === undefined) return 'unknown';
      if (!last.powered.includes(server)) return 'off';
      if (last.primaryUp.length === 1 && last.primaryUp[0] === server) return 'primary';
      if (last.monitorUp.length === 1 && last.monitorUp[0] === server) return 'monitor';
      return 'spare';
    };
    const usable = (server: string): boolean => {
      const agentUp = lab.agentPid(server) !== null;
      if (SERVER_FAULTS.has(kind)) {
        if (this.serverSlot.has(server) || !lab.isPowered(server)) return false;
        if (kind === 'agent-crash' || kind === 'agent-hang' || kind === 'frozen-server') return agentUp;
        return true;
      }
      if (BMC_FAULTS.has(kind)) return !this.bmcSlot.has(server);
      if (kind === 'disk-full') return !this.diskSlot.has(server);
      // clock-step: an agent that answers on its control socket.
      return (
        agentUp && lab.isPowered(server) && !['agent-hang', 'frozen-server'].includes(this.serverSlot.get(server) ?? '')
      );
    };
    const candidates = lab.serverNames().filter(usable);
    if (candidates.length === 0) return 'no server free for it';
    let target: string | undefined;
    if (kind === 'one-way-loss') {
      target = candidates.find((s) => roleOf(s) === 'primary');
      if (target === undefined) return 'no primary free for it';
    } else if (planned.want !== 'any') {
      target = candidates.find((s) => roleOf(s) === planned.want);
    }
    if (target === undefined) {
      const draw = nextRandom((this.options.seed ^ (planned.id * 2654435761)) >>> 0).value;
      target = candidates[Math.floor(draw * candidates.length)];
    }
    if (target === undefined) return 'no server free for it';
    record.target = target;
    record.targetRole = roleOf(target);
    return null;
  }

  /** Marks the slots a fault occupies; returns their release. */
  private take(kind: SoakFaultKind, target: string | null): () => void {
    if (target === null) {
      this.clusterSlot.add(kind);
      return () => this.clusterSlot.delete(kind);
    }
    if (SERVER_FAULTS.has(kind)) {
      this.serverSlot.set(target, kind);
      return () => this.serverSlot.delete(target);
    }
    if (BMC_FAULTS.has(kind)) {
      this.bmcSlot.add(target);
      return () => this.bmcSlot.delete(target);
    }
    if (kind === 'disk-full') {
      this.diskSlot.add(target);
      return () => this.diskSlot.delete(target);
    }
    return () => undefined;
  }

  // ------------------------------------------------------------------ ground truth and writes

  private async tickLoop(): Promise<void> {
    while (this.ticking) {
      const began = Date.now();
      try {
        await this.tick();
      } catch (error) {
        this.anomalies.push({ atUs: monoUs(), server: null, what: `tick: ${String(error)}` });
      }
      await sleep(Math.max(10, TICK_MS - (Date.now() - began)));
    }
  }

  private async tick(): Promise<void> {
    const lab = this.lab;
    const atUs = monoUs();
    // 1. Every server's files, before anything is written in this tick.
    const onDisk = new Map<string, Record<string, number | null>>();
    for (const server of lab.serverNames()) {
      const versions: Record<string, number | null> = {};
      for (let i = 0; i < FILE_COUNT; i += 1) {
        const file = fileName(i);
        const content = await readFile(join(this.disks.dataDir(server), file)).catch(() => null);
        const decoded = content === null ? null : decodeVersion(content);
        const version = decoded !== null && decoded.ok ? decoded.version : null;
        versions[file] = version;
        const torn = decoded !== null && !decoded.ok ? decoded.why : undefined;
        const key = `${server}/${file}`;
        const seen = torn !== undefined ? `torn:${torn}` : String(version);
        if (this.lastSeen.get(key) !== seen) {
          this.lastSeen.set(key, seen);
          this.files.push({ atUs, server, file, version, ...(torn !== undefined ? { torn } : {}) });
        }
      }
      onDisk.set(server, versions);
    }
    // 2. Who holds what.
    const h = await lab.holders();
    const powered = lab.serverNames().filter((s) => lab.isPowered(s));
    const sample: HolderSample = {
      atUs,
      primaryUp: h.primaryUp,
      monitorUp: h.monitorUp,
      primary: h.primary,
      powered,
    };
    const last = this.holders.at(-1);
    if (last === undefined || JSON.stringify({ ...last, atUs: 0 }) !== JSON.stringify({ ...sample, atUs: 0 }))
      this.holders.push(sample);
    // 3. Writes go to the one connected holder of the primary address (the application runs there).
    if (h.primaryUp.length === 1) {
      const holder = h.primaryUp[0] ?? '';
      if (holder !== this.eraHolder) {
        // The new holder's files read again now, after it was seen holding (it may have
        // synced between the read above and its claim), before anything is written to it.
        const heldUs = monoUs();
        const versions: Record<string, number | null> = {};
        for (let i = 0; i < FILE_COUNT; i += 1) {
          const content = await readFile(join(this.disks.dataDir(holder), fileName(i))).catch(() => null);
          const decoded = content === null ? null : decodeVersion(content);
          versions[fileName(i)] = decoded !== null && decoded.ok ? decoded.version : null;
        }
        this.eras.push({ atUs: heldUs, server: holder, versions });
        this.eraHolder = holder;
      }
      for (let n = 0; n < 2; n += 1) await this.write(holder);
    }
    // 4. The operator's part: an agent halted (a persist failed on a full disk) after its
    // disk has room again is restarted (it does not retry by itself), and noted.
    if (this.tickCount++ % 5 === 0) for (const server of powered) void this.restartIfHalted(server);
    // 5. An agent the lab gave up restarting (5 exits in 10 s) is started again, and noted.
    for (const server of powered) {
      if (lab.get(server).agent !== null) {
        this.agentMissingSince.delete(server);
        continue;
      }
      const since = this.agentMissingSince.get(server) ?? atUs;
      this.agentMissingSince.set(server, since);
      if (atUs - since > WATCHDOG_MS * 1000) {
        this.anomalies.push({ atUs, server, what: 'agent not running on a powered server for 3 s: rebooted' });
        this.agentMissingSince.delete(server);
        await lab.powerOff(server, 'harness');
        await lab.powerOn(server, 'harness');
      }
    }
  }

  private async restartIfHalted(server: string): Promise<void> {
    if (this.statusAsked.has(server) || this.diskSlot.has(server)) return;
    this.statusAsked.add(server);
    try {
      const answer = await controlRequest(this.lab.get(server).paths.controlSocket, 'status');
      const phase = (JSON.parse(answer) as { result?: { phase?: string } }).result?.phase;
      if (phase !== 'halted') {
        this.haltedSince.delete(server);
        return;
      }
      const since = this.haltedSince.get(server) ?? monoUs();
      this.haltedSince.set(server, since);
      // The agent retries a halt by itself every HALT_RETRY_US; only one that stays halted
      // through two retries with room on its disk is restarted (an operator's act, counted).
      if (monoUs() - since < 2 * HALT_RETRY_US + 1_000_000) return;
      this.haltedSince.delete(server);
      this.anomalies.push({
        atUs: monoUs(),
        server,
        what: 'agent halted with room on its disk: restarted by the operator (SIGTERM)',
      });
      this.lab.get(server).agent?.signal('SIGTERM');
    } catch {
      // hung, stopped or restarting: asked again later
    } finally {
      this.statusAsked.delete(server);
    }
  }

  private async write(server: string): Promise<void> {
    const file = fileName(this.writeCursor % FILE_COUNT);
    this.writeCursor += 1;
    const version = (this.versions.get(file) ?? 0) + 1;
    this.versions.set(file, version);
    const temp = join(this.disks.writerTmp(server), `${file}.${version}`);
    const record: WriteRecord = { file, version, server, atUs: 0, ok: true };
    try {
      await writeFile(temp, encodeVersion(file, version, 2048 + ((version * 977) % 4096)), { mode: 0o600 });
      await rename(temp, join(this.disks.dataDir(server), file));
    } catch (error) {
      record.ok = false;
      record.error = error instanceof Error ? error.message : String(error);
    }
    record.atUs = monoUs();
    this.writes.push(record);
  }

  // ------------------------------------------------------------------ the record

  private record(): CampaignRecord {
    const lab = this.lab;
    const agentEvents: AgentEvent[] = [];
    for (const server of lab.serverNames()) {
      for (const line of agentLog(lab, server)) {
        if (!KEPT_EVENTS.has(line.event) && line.level !== 'error') continue;
        const event: AgentEvent = {
          server,
          atUs: line.atUs,
          event: line.event,
          level: line.level,
          message: line.message.slice(0, 400),
        };
        for (const key of ['from', 'to', 'target'] as const) {
          const value = line[key] ?? (line['fields'] as Record<string, unknown> | undefined)?.[key];
          if (typeof value === 'string') event[key] = value;
        }
        agentEvents.push(event);
      }
    }
    const primary = bare(PRIMARY_ADDRESS);
    return {
      seed: this.options.seed,
      gate: this.options.gate,
      plan: { faults: this.options.faults, durationMs: this.options.durationMs, meanGapMs: this.options.meanGapMs },
      gateInConfig: this.gateInConfig,
      startUs: this.startUs,
      endUs: monoUs(),
      startedAt: this.startedAt,
      servers: lab.serverNames(),
      observerIntervalMs: this.options.observerIntervalMs,
      faults: this.faults,
      holders: this.holders,
      writes: this.writes,
      files: this.files,
      eras: this.eras,
      agentEvents: agentEvents.sort((a, b) => a.atUs - b.atUs),
      power: lab.powerLog.map((p) => ({
        server: p.server,
        on: p.on,
        source: p.source,
        requestedUs: p.requestedUs,
        doneUs: p.doneUs,
        commandUs: p.commandUs,
      })),
      primaryAddress: lab.events
        .filter((e) => e.kind === 'addr' && e.ifname === 'eth0' && bare(e.address) === primary)
        .map((e) => ({ server: e.server, atUs: e.atUs, added: !e.deleted })),
      splitBrain: lab.splitBrainViolations().map((v) => ({ startUs: v.startUs, endUs: v.endUs, servers: v.servers })),
      replies: (lab.observer?.replies ?? []).map((r) => ({ t: r.t, server: lab.serverByTtl(r.ttl) })),
      agentExits: lab
        .serverNames()
        .flatMap((server) => lab.get(server).agentExits.map((exit) => ({ server, ...exit }))),
      anomalies: this.anomalies,
      config: this.config,
    };
  }
}
