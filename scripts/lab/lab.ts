/**
 * The hotspare lab: N servers in network namespaces on one LAN bridge, one ipmi_sim BMC per
 * server on a management bridge, a serial console per server, a 1 ms ICMP observer and
 * ground-truth recorders of every address and link change. The process that calls
 * `startLab` is the harness: it owns every child and must call `stop()`.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { appendFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { basename, join } from 'node:path';
import type { IpmitoolBmcOptions } from '../../hal/bmc/ipmitool.js';
import { realAgent } from './agent-command.js';
import { AgentSupervisor } from './agent-supervisor.js';
import { LabSwitch } from './lab-switch.js';
import type { LabServer } from './lab-server.js';
import { startRedfishBmcs } from './redfish-start.js';
import type { AgentCommand } from './agent-command.js';
import { agentConfig, agentPaths, boardFile, deepMerge, writeAgentFiles } from './agent-config.js';
import type { AgentConfigFile, BoardFile, Patch } from './agent-config.js';
import {
  bmcFiles,
  labSocketPath,
  powerStateFile,
  startIpmiSim,
  writeBmcFiles,
  writeSharedBmcFiles,
} from './bmc-sim.js';
import { ProcessGroup } from './children.js';
import type { ExitInfo, ManagedProcess } from './children.js';
import { ChassisFifo } from './chassis-fifo.js';
import { SlowBmcPower } from './slow-bmc.js';
import type { FaultKind } from './fault-kinds.js';
import { closeServer, startLineServer } from './control-server.js';
import { monoUs, sleep } from './exec.js';
import { readHolders, readPorts, readServerNet } from './holders.js';
import type { Holders, ServerNetState } from './holders.js';
import { IpBatch } from './ip-batch.js';
import { writeLabRecord } from './lab-record.js';
import type { LabRecord } from './lab-record.js';
import { NetRecorder, recordLab, wallMinusMonoUs } from './monitor.js';
import type { RecordedEvent } from './monitor.js';
import { buildNetwork, deleteNetns, listNetns } from './netns.js';
import { Observer } from './observer.js';
import { LAB_ROOT, agentMain } from './paths.js';
import type { RedfishTls } from './redfish-ca.js';
import { readProcStat } from './proc-stat.js';
import { handleLabRequest } from './requests.js';
import { newRunId } from './run-id.js';
import { startSerialPair } from './serial.js';
import { SNMP_PORT, portIfIndex, startSnmpd, switchHost, writeSnmpdFiles } from './snmpd.js';
import type { SnmpdFiles } from './snmpd.js';
import { findViolations } from './split-brain.js';
import { holderEventsOf, labStatus } from './lab-status.js';
import type { LabStatus } from './lab-status.js';
import type { HolderEvent, HolderState, Violation } from './split-brain.js';
import { BMC_PORT, BMC_USER, PRIMARY_ADDRESS, allNetns, bare, defaultServerNames, planLab } from './topology.js';
import type { LabPlan, ServerPlan } from './topology.js';

export { FAULT_KINDS } from './fault-kinds.js';
export type { FaultKind } from './fault-kinds.js';

export { placeholderAgent, realAgent } from './agent-command.js';
export type { AgentCommand, AgentContext } from './agent-command.js';

export interface LabOptions {
  /** Number of servers (named a, b, c, ...) or their names. Default 3. */
  servers?: number | readonly string[];
  /** Default: the real agent. */
  agentCommand?: AgentCommand;
  /** Start the agents at lab start (default true). */
  startAgents?: boolean;
  /**
   * What happens when an agent exits on its own while its server is powered:
   * `restart` (default): started again after 200 ms, like systemd's Restart=always (the addresses
   * it held stay); `reboot`: the server reboots (links down, every address gone, fixed ones back,
   * agent started); `stay`: nothing. At most 5 restarts within 10 s.
   */
  agentExit?: 'restart' | 'reboot' | 'stay';
  /** Deep-merged into every server's config (e.g. `{ fencing: { required: false } }`). */
  config?: Patch;
  /** Last word on one server's config. */
  configure?: (server: string, config: AgentConfigFile) => AgentConfigFile;
  /** Deep-merged into every board file. */
  board?: Patch;
  /** Start the observer (default true). */
  observer?: boolean;
  observerIntervalMs?: number;
  /** Keep the run directory (logs) after stop. Default: env HOTSPARE_LAB_KEEP=1. */
  keepRunDir?: boolean;
  /** Progress and event lines (also written to RUN/lab.log). */
  log?: (line: string) => void;
  /** Run id; default a fresh random one. */
  id?: string;
  /**
   * The BMCs act like real hardware: power off is acknowledged at once and the power goes
   * off this much later (status reads `power:1` until then). Default 0: at once.
   */
  bmcOffDelayMs?: number;
  /** Added to the BMCs' response time for power commands (status reads are not delayed). Default 0. */
  bmcAckDelayMs?: number;
  /**
   * A power on acknowledged while a delayed off is pending: carried out after it (`queue`,
   * default) or forgotten (`drop`, as some real BMCs do).
   */
  bmcOnDuringOff?: 'queue' | 'drop';
  /**
   * Also a Redfish BMC per server (scripts/lab/redfish-bmc.ts) at its BMC address, port
   * REDFISH_PORT, with a lab CA made for this run; `taskMs` > 0: resets answered 202 with a
   * task that ends that much later. Same power side as ipmi_sim (bmcOffDelayMs applies).
   */
  redfish?: { taskMs?: number };
  /**
   * A managed switch: snmpd in the LAN namespace serving IF-MIB on the switch's address
   * (scripts/lab/snmpd.ts), communities made for this run. Default false.
   */
  switchSnmp?: boolean;
  /**
   * With `switchSnmp`: every member's config names its switch port as its isolation device
   * (`members[].isolation`, SNMP IF-MIB on the lab switch), for the `isolated` gate.
   */
  isolation?: boolean;
  /**
   * A lease witness (`hotspare witness`) on a machine of its own on the LAN, started before the
   * agents with the first server's config file; give every server's config the same
   * `lease.witness` (through `config`). Its log: RUN/witness.log.
   */
  witness?: { name: string; address: string };
}

export interface PowerTiming {
  server: string;
  on: boolean;
  /** `bmc` (through ipmi_sim's chassis program) or `harness` (a direct call, e.g. crash). */
  source: 'bmc' | 'harness';
  /** Monotonic µs when the harness got the request. */
  requestedUs: number;
  /** Monotonic µs when the BMC acknowledged the command: before `requestedUs` for a delayed off. */
  commandUs: number;
  /** Monotonic µs when the link changes were executed (ip batch past them). */
  doneUs: number;
}

export type { LabServer } from './lab-server.js';
export { REDFISH_PORT } from './redfish-start.js';

export class Lab {
  readonly plan: LabPlan;
  readonly servers = new Map<string, LabServer>();
  readonly group = new ProcessGroup();
  /** Every address/link change in every server namespace, in arrival order. */
  readonly events: RecordedEvent[] = [];
  readonly powerLog: PowerTiming[] = [];
  /** The BMCs' power side: delayed off, acknowledgement latency (scripts/lab/slow-bmc.ts). */
  readonly bmcPower: SlowBmcPower;
  observer: Observer | null = null;
  /** The Redfish BMCs' TLS material (CA, certificate, fingerprint), with LabOptions.redfish. */
  redfishTls: RedfishTls | null = null;
  /** The switch's snmpd and its files, with LabOptions.switchSnmp. */
  snmpd: ManagedProcess | null = null;
  snmpdFiles: SnmpdFiles | null = null;
  /** Each server's port on the lab switch (its ifIndex), with LabOptions.isolation. */
  private readonly ifIndexes = new Map<string, number>();
  /** Wall-clock minus monotonic µs at start: converts `ip monitor` times to the monotonic clock. */
  readonly wallOffsetUs: number;
  /** Server net state when the recorders started (monotonic µs `initialUs`). */
  initial: Record<string, ServerNetState> = {};
  initialUs = 0;

  private readonly options: LabOptions;
  private readonly createdNetns: string[] = [];
  private recorders: NetRecorder[] = [];
  /** The LAN switch (port links, silent ports, strangers), once the namespaces exist. */
  private lanSwitch: LabSwitch | null = null;
  private readonly agents: AgentSupervisor;
  private server: Server | null = null;
  private chassis: ChassisFifo | null = null;
  private stopping: Promise<void> | null = null;
  private closed = false;
  private readonly exitHandler = (): void => this.emergencyCleanup();

  constructor(plan: LabPlan, options: LabOptions) {
    this.plan = plan;
    this.options = options;
    this.wallOffsetUs = wallMinusMonoUs();
    this.bmcPower = new SlowBmcPower(
      {
        powered: (name) => this.get(name).powered,
        powerOff: (name, commandUs) => this.powerOff(name, 'bmc', commandUs),
        powerOn: (name) => this.powerOn(name, 'bmc'),
        log: (line) => this.log(line),
      },
      {
        offDelayMs: options.bmcOffDelayMs ?? 0,
        ackDelayMs: options.bmcAckDelayMs ?? 0,
        cycleIntervalMs: 1000,
        onDuringOff: options.bmcOnDuringOff ?? 'queue',
      },
    );
    for (const server of plan.servers) {
      this.servers.set(server.name, {
        plan: server,
        paths: agentPaths(plan, server),
        bmcFiles: bmcFiles(plan, server),
        powered: true,
        agent: null,
        bmc: null,
        redfish: null,
        serial: null,
        batch: null,
        faults: new Set(),
        agentStarts: 0,
        agentExits: [],
      });
    }
    this.agents = new AgentSupervisor({
      group: this.group,
      runDir: plan.runDir,
      command: options.agentCommand ?? realAgent,
      onExit: options.agentExit ?? 'restart',
      closed: () => this.closed,
      reboot: async (name) => {
        await this.powerOff(name, 'harness');
        await this.powerOn(name, 'harness');
      },
      log: (line) => this.log(line),
    });
    process.once('exit', this.exitHandler);
  }

  get id(): string {
    return this.plan.id;
  }

  get runDir(): string {
    return this.plan.runDir;
  }

  get socketPath(): string {
    return labSocketPath(this.plan);
  }

  serverNames(): string[] {
    return this.plan.servers.map((server) => server.name);
  }

  netnsOf(name: string): string {
    return this.get(name).plan.netns;
  }

  get(name: string): LabServer {
    const server = this.servers.get(name);
    if (server === undefined) {
      throw new Error(
        `no server ${JSON.stringify(name)} in lab ${this.id} (servers: ${this.serverNames().join(', ')})`,
      );
    }
    return server;
  }

  /** Server name for an observed TTL, or null. */
  serverByTtl(ttl: number): string | null {
    return this.plan.servers.find((server) => server.ttl === ttl)?.name ?? null;
  }

  log(line: string): void {
    const stamped = `${new Date().toISOString()} ${line}`;
    try {
      appendFileSync(join(this.runDir, 'lab.log'), `${stamped}\n`);
    } catch {
      // run dir gone (after stop)
    }
    this.options.log?.(line);
  }

  // ---- startup -------------------------------------------------------------------------

  /** @internal Builds everything; on failure the caller runs `stop()`. */
  async start(): Promise<void> {
    await this.writeRecord();
    this.log(`lab ${this.id}: building namespaces`);
    await buildNetwork(this.plan, this.createdNetns);
    await this.writeRecord();

    const lanBatch = new IpBatch(this.group, this.plan.lanNetns);
    this.lanSwitch = new LabSwitch(this.plan, lanBatch, this.createdNetns, (line) => this.log(line));
    for (const server of this.servers.values()) {
      server.batch = new IpBatch(this.group, server.plan.netns);
    }
    await Promise.all([lanBatch.run([]), ...[...this.servers.values()].map((server) => server.batch?.run([]))]);
    this.recorders = recordLab(this.group, this.plan, this.wallOffsetUs, (event) => this.events.push(event));
    // `ip monitor` prints nothing when it is ready; give it a moment before the snapshot.
    await sleep(50);
    this.initialUs = monoUs();
    const ports = await readPorts(this.plan);
    const initial = await Promise.all(
      this.plan.servers.map(
        async (server) => [server.name, await readServerNet(server.netns, ports.get(server.lanPort) ?? false)] as const,
      ),
    );
    this.initial = Object.fromEntries(initial);

    this.server = await startLineServer(this.socketPath, (line) => handleLabRequest(this, line));
    this.chassis = await ChassisFifo.open(this.runDir, this.serverNames(), (line) =>
      line.startsWith('chassis ') ? handleLabRequest(this, line) : Promise.resolve('error: only chassis requests here'),
    );
    await writeSharedBmcFiles(this.plan);
    this.log(`lab ${this.id}: starting BMCs and serial consoles`);
    await Promise.all(
      [...this.servers.values()].map(async (server) => {
        const name = server.plan.name;
        server.serial = await startSerialPair(
          this.group,
          name,
          server.paths.serialAgent,
          server.paths.serialBmc,
          join(this.runDir, `serial-${name}.log`),
        );
        await writeBmcFiles(this.plan, server.plan, server.paths.serialBmc, true);
        server.bmc = await startIpmiSim(this.group, this.plan, server.plan);
      }),
    );

    if (this.options.redfish !== undefined)
      this.redfishTls = await startRedfishBmcs(
        this.group,
        this.plan,
        this.options.redfish.taskMs ?? 0,
        (plan, child) => {
          this.get(plan.name).redfish = child;
        },
      );
    if (this.options.switchSnmp === true) {
      this.snmpdFiles = await writeSnmpdFiles(this.plan);
      this.snmpd = await startSnmpd(this.group, this.plan);
      if (this.options.isolation === true)
        for (const server of this.plan.servers)
          this.ifIndexes.set(server.name, await portIfIndex(this.plan, server.lanPort));
    }

    if (this.options.observer !== false) {
      this.observer = new Observer(
        this.group,
        this.plan.observerNetns,
        bare(PRIMARY_ADDRESS),
        join(this.runDir, 'observer.jsonl'),
        this.options.observerIntervalMs ?? 1,
      );
      await Promise.race([
        this.observer.ready,
        sleep(5000).then(() => {
          throw new Error('observer did not start within 5 s; see observer.jsonl');
        }),
      ]);
    }

    for (const server of this.servers.values()) {
      await mkdir(server.paths.stateDir, { recursive: true, mode: 0o700 });
      await writeAgentFiles(server.paths, this.configFor(server.plan), this.boardFor(server.plan));
    }
    if (this.options.witness !== undefined) await this.startWitness(this.options.witness);
    if (this.options.startAgents !== false) {
      this.log(`lab ${this.id}: starting agents`);
      await Promise.all([...this.servers.values()].map((server) => this.agents.start(server)));
    }
    await this.writeRecord();
    this.log(`lab ${this.id}: up (${this.serverNames().join(', ')}) in ${this.runDir}`);
  }

  configFor(server: ServerPlan): AgentConfigFile {
    const base = agentConfig(this.plan, server);
    const files = this.snmpdFiles;
    if (this.options.isolation === true && files !== null)
      base.cluster.members = base.cluster.members.map((m) => ({
        ...m,
        isolation: {
          device: 'snmp-ifmib',
          host: switchHost(),
          port: SNMP_PORT,
          community_file: files.communityFile,
          if_index: this.ifIndexes.get(m.name) ?? 0,
        },
      }));
    const merged = deepMerge(base, this.options.config);
    return this.options.configure?.(server.name, merged) ?? merged;
  }

  boardFor(server: ServerPlan): BoardFile {
    // A board states its BMC's typical off time (bmc.power_off_ms), as an operator's would:
    // the lab's is the BMCs' off delay, when they have one.
    const board = boardFile(this.plan, server);
    const offDelayMs = this.options.bmcOffDelayMs ?? 0;
    if (offDelayMs > 0) board.bmc.power_off_ms = offDelayMs;
    return deepMerge(board, this.options.board);
  }

  private async writeRecord(): Promise<void> {
    const self = readProcStat(process.pid);
    const record: LabRecord = {
      id: this.id,
      runDir: this.runDir,
      harnessPid: process.pid,
      harnessStartTime: self?.startTime ?? -1,
      namespaces: allNetns(this.plan),
      socket: this.socketPath,
      servers: this.serverNames(),
      createdAt: new Date().toISOString(),
    };
    await writeLabRecord(record);
  }

  /** The lease witness process, with LabOptions.witness. */
  witness: ManagedProcess | null = null;

  private async startWitness(w: { name: string; address: string }): Promise<void> {
    if (this.lanSwitch === null) throw new Error('the lab switch is not up yet');
    const { netns } = await this.lanSwitch.plugHost(w.address, '02:00:00:00:00:50');
    const first = [...this.servers.values()][0];
    if (first === undefined) throw new Error('a lab witness needs a server whose config it reads');
    this.witness = this.group.spawn({
      name: `witness-${w.name}`,
      argv: [process.execPath, agentMain(), 'witness', '--config', first.paths.config],
      netns,
      logFile: join(this.runDir, 'witness.log'),
    });
    this.log(`lab ${this.id}: witness ${w.name} at ${w.address} (${netns})`);
  }

  /** The witness's log so far (JSON lines), for tests. */
  witnessLog(): string {
    try {
      return readFileSync(join(this.runDir, 'witness.log'), 'utf8');
    } catch {
      return '';
    }
  }

  // ---- agents --------------------------------------------------------------------------

  /** PID of a server's agent program (inside its PID namespace), or null. */
  agentPid(name: string): number | null {
    const agent = this.get(name).agent;
    return agent !== null && agent.programAlive ? agent.programPid : null;
  }

  // ---- power ---------------------------------------------------------------------------

  private writePowerState(server: LabServer): void {
    const file = powerStateFile(this.plan, server.plan.name);
    writeFileSync(`${file}.tmp`, server.powered ? 'power:1\n' : 'power:0\n');
    renameSync(`${file}.tmp`, file);
  }

  /**
   * Power loss: the agent (and all it started) is killed, eth0 and eth1 go down and lose every
   * address. Resolves once the links are down.
   */
  async powerOff(
    name: string,
    source: 'bmc' | 'harness' = 'harness',
    commandUs = monoUs(),
  ): Promise<PowerTiming | null> {
    const server = this.get(name);
    const requestedUs = monoUs();
    if (source === 'harness') {
      this.bmcPower.cancel(name);
    }
    if (!server.powered) {
      return null;
    }
    server.powered = false;
    const links = server.batch?.run([
      'link set dev eth0 down',
      'link set dev eth1 down',
      'address flush dev eth0',
      'address flush dev eth1',
    ]);
    this.agents.kill(server);
    server.faults.delete('hang');
    if (server.faults.delete('silence')) {
      // A power off ends a silent port: it forwards again once the link is back, so from here
      // on the split-brain check must count the port as usable (the link decides).
      this.lanSwitch?.silenceEndedByPowerOff(name);
    }
    await links;
    // The BMCs read the power file: it says off only once the links are down, as a real
    // server's NIC is dead when its BMC reports the power off (else a fence could read off
    // while the LAN link still carries the address for the ip batch's few milliseconds).
    this.writePowerState(server);
    const timing: PowerTiming = { server: name, on: false, source, requestedUs, commandUs, doneUs: monoUs() };
    this.powerLog.push(timing);
    this.log(`power off ${name} (${source}): links down after ${((timing.doneUs - requestedUs) / 1000).toFixed(2)} ms`);
    return timing;
  }

  /** Power on: links up, fixed addresses back, agent started. */
  async powerOn(name: string, source: 'bmc' | 'harness' = 'harness'): Promise<PowerTiming | null> {
    const server = this.get(name);
    const requestedUs = monoUs();
    if (server.powered) {
      return null;
    }
    server.powered = true;
    this.writePowerState(server);
    server.faults.delete('crash');
    await server.batch?.run([
      'link set dev eth0 up',
      'link set dev eth1 up',
      `address replace ${server.plan.lanAddress} dev eth0`,
      `address replace ${server.plan.mgmtAddress} dev eth1`,
    ]);
    const timing: PowerTiming = {
      server: name,
      on: true,
      source,
      requestedUs,
      commandUs: requestedUs,
      doneUs: monoUs(),
    };
    this.powerLog.push(timing);
    this.log(`power on ${name} (${source}): links up after ${((timing.doneUs - requestedUs) / 1000).toFixed(2)} ms`);
    if (this.options.startAgents !== false) {
      if (source === 'bmc') {
        this.agents.forgetRestarts(name);
      }
      // A BMC acknowledges power on at once; the machine boots afterwards.
      const starting = this.agents.start(server);
      if (source === 'harness') {
        await starting;
      }
    }
    return timing;
  }

  isPowered(name: string): boolean {
    return this.get(name).powered;
  }

  // ---- faults --------------------------------------------------------------------------

  /** Power loss, done by the harness directly (not through the BMC). */
  async crash(name: string): Promise<void> {
    await this.powerOff(name, 'harness');
    this.get(name).faults.add('crash');
  }

  /**
   * A clean stop of the agent, as `systemctl stop`: SIGTERM, then its exit (null: it had not
   * exited within `timeoutMs`). Not restarted: the exit is expected.
   */
  async stopAgent(name: string, timeoutMs = 10_000): Promise<ExitInfo | null> {
    const agent = this.get(name).agent;
    if (agent === null) throw new Error(`stop ${name}: no running agent`);
    agent.expectedExit = true;
    if (!agent.signal('SIGTERM')) throw new Error(`stop ${name}: the agent could not be signalled`);
    this.log(`stop ${name} (SIGTERM)`);
    return Promise.race([agent.exited, sleep(timeoutMs).then(() => null)]);
  }

  /** Freezes the agent (SIGSTOP); its addresses stay. */
  hang(name: string): void {
    const server = this.get(name);
    if (server.agent === null || !server.agent.signal('SIGSTOP')) {
      throw new Error(`hang ${name}: no running agent`);
    }
    server.faults.add('hang');
    this.log(`hang ${name}`);
  }

  /** Unplugs the server's LAN cable at the switch: its eth0 loses carrier. */
  async cut(name: string): Promise<void> {
    const server = this.get(name);
    await this.lanSwitch?.setLink(server.plan.lanPort, false);
    server.faults.add('cut');
    this.log(`cut ${name}`);
  }

  /**
   * The server's switch port goes silent with its link up (see FaultKind `silence`). A power
   * off of the server ends it: the port goes down, and forwards again when it comes back up.
   */
  async silence(name: string): Promise<void> {
    const server = this.get(name);
    await this.lanSwitch?.setSilent(name, server.plan.lanPort, true);
    server.faults.add('silence');
    this.log(`silence ${name}`);
  }

  /**
   * A host that is no member appears on the LAN with `mac` and holds `address` (a
   * misconfigured host, or a forger answering ARP for it). Returns its removal.
   */
  async stranger(address: string, mac: string): Promise<() => Promise<void>> {
    if (this.lanSwitch === null) throw new Error(`lab ${this.id}: not started`);
    return this.lanSwitch.stranger(address, mac);
  }

  /** The server's BMC stops answering (ipmi_sim stopped). */
  bmcDown(name: string): void {
    const server = this.get(name);
    if (server.bmc === null || !server.bmc.signal('SIGSTOP')) {
      throw new Error(`bmc-down ${name}: ipmi_sim is not running`);
    }
    server.redfish?.signal('SIGSTOP');
    server.faults.add('bmc-down');
    this.log(`bmc-down ${name}`);
  }

  async fail(name: string, kind: FaultKind): Promise<void> {
    switch (kind) {
      case 'crash':
        return this.crash(name);
      case 'hang':
        return this.hang(name);
      case 'cut':
        return this.cut(name);
      case 'silence':
        return this.silence(name);
      case 'bmc-down':
        return this.bmcDown(name);
    }
  }

  /** Undoes one fault, or every active fault of the server when `kind` is omitted. */
  async restore(name: string, kind?: FaultKind): Promise<void> {
    const server = this.get(name);
    const kinds = kind === undefined ? [...server.faults] : [kind];
    for (const fault of kinds) {
      switch (fault) {
        case 'crash':
          await this.powerOn(name, 'harness');
          break;
        case 'hang':
          server.agent?.signal('SIGCONT');
          break;
        case 'cut':
          await this.lanSwitch?.setLink(server.plan.lanPort, true);
          break;
        case 'silence':
          // A server powered off meanwhile took its port down; it forwards again when it comes up.
          await this.lanSwitch?.setSilent(name, server.plan.lanPort, false, server.powered);
          break;
        case 'bmc-down':
          server.bmc?.signal('SIGCONT');
          server.redfish?.signal('SIGCONT');
          break;
      }
      server.faults.delete(fault);
      this.log(`restore ${name} ${fault}`);
    }
  }

  // ---- ground truth --------------------------------------------------------------------

  holders(): Promise<Holders> {
    return readHolders(this.plan);
  }

  /** Polls `predicate` every `intervalMs` until it is true; rejects after `timeoutMs`. */
  async waitFor<T>(
    predicate: () => T | Promise<T>,
    timeoutMs: number,
    what = 'condition',
    intervalMs = 10,
  ): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await predicate();
      if (value !== null && value !== undefined && value !== false) {
        return value as NonNullable<T>;
      }
      if (Date.now() >= deadline) {
        throw new Error(`lab ${this.id}: ${what} not reached within ${timeoutMs} ms`);
      }
      await sleep(intervalMs);
    }
  }

  /** The recorded events as input for the split-brain checker: eth0 of each server and its switch port. */
  holderEvents(): HolderEvent[] {
    return holderEventsOf(
      this.events,
      (server) => this.servers.get(server)?.plan.lanPort,
      this.lanSwitch?.silences ?? [],
    );
  }

  /** Every interval in which two or more servers held `address` (default primary) on a usable link. */
  splitBrainViolations(address = PRIMARY_ADDRESS, minDurationUs = 0): Violation[] {
    const initial: Record<string, HolderState> = {};
    for (const [name, state] of Object.entries(this.initial)) {
      initial[name] = state;
    }
    return findViolations(initial, this.holderEvents(), address, minDurationUs);
  }

  /** BMC access settings for `IpmitoolBmc` (hal/bmc/ipmitool.ts). */
  bmcOptions(name: string, timeoutMs = 2000): IpmitoolBmcOptions {
    const server = this.get(name);
    return {
      member: name,
      host: server.plan.bmcHost,
      port: BMC_PORT,
      username: BMC_USER,
      passwordFile: server.bmcFiles.passwordFile,
      interface: 'lanplus',
      cipherSuite: 3,
      timeoutMs,
    };
  }

  /** Argv prefix that runs ipmitool from inside a server's namespace. */
  ipmitoolCommand(fromServer: string): string[] {
    return ['ip', 'netns', 'exec', this.netnsOf(fromServer), 'ipmitool'];
  }

  // ---- status --------------------------------------------------------------------------

  /** Holders, power, faults and observer statistics, for the CLI `status`. */
  async status(): Promise<LabStatus> {
    return labStatus(this, await this.holders());
  }

  // ---- teardown ------------------------------------------------------------------------

  /** Ends every child, deletes every namespace and (unless kept) the run directory. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    this.closed = true;
    this.bmcPower.stop();
    this.log(`lab ${this.id}: stopping`);
    if (this.server !== null) {
      await closeServer(this.server).catch(() => undefined);
    }
    this.chassis?.close();
    for (const server of this.servers.values()) {
      if (server.agent !== null) {
        server.agent.expectedExit = true;
      }
    }
    await this.observer?.stop().catch(() => undefined);
    await Promise.all(this.recorders.map((recorder) => recorder.stop().catch(() => undefined)));
    await this.group.stopAll(1000);
    // ipmi_sim's UUCP-style locks of the SOL devices (it does not remove them when killed).
    for (const server of this.servers.values()) {
      await rm(`/var/lock/LCK..${basename(server.paths.serialBmc)}`, { force: true }).catch(() => undefined);
    }
    const existing = new Set(await listNetns().catch(() => [] as string[]));
    for (const netns of [...this.createdNetns].reverse()) {
      if (existing.has(netns)) {
        await deleteNetns(netns).catch((error: unknown) => this.log(`delete ${netns}: ${String(error)}`));
      }
    }
    const keep = this.options.keepRunDir ?? process.env['HOTSPARE_LAB_KEEP'] === '1';
    if (!keep) {
      await rm(this.runDir, { recursive: true, force: true });
    } else {
      this.log(`lab ${this.id}: stopped; run directory kept`);
    }
    process.off('exit', this.exitHandler);
  }

  /** Last resort when the process exits without `stop()`: kill children, delete namespaces (synchronously). */
  private emergencyCleanup(): void {
    if (this.stopping !== null) {
      return;
    }
    for (const member of this.group.live()) {
      member.signalNamespaceInit('SIGKILL');
      try {
        process.kill(member.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const netns of [...this.createdNetns].reverse()) {
      spawnSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    }
    if (!(this.options.keepRunDir ?? process.env['HOTSPARE_LAB_KEEP'] === '1')) {
      rmSync(this.runDir, { recursive: true, force: true });
    }
  }
}

/** Picks a run id whose namespaces and run directory do not exist yet. */
async function freshId(requested: string | undefined): Promise<string> {
  const existing = await listNetns();
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const id = requested ?? newRunId();
    const taken =
      existing.some((netns) => netns.startsWith(`hs${id}-`)) ||
      (await stat(join(LAB_ROOT, id)).then(
        () => true,
        () => false,
      ));
    if (!taken) {
      return id;
    }
    if (requested !== undefined) {
      throw new Error(`lab id ${requested} is in use`);
    }
  }
  throw new Error('no free lab id');
}

/** Builds and starts a lab. On any failure, everything created so far is removed again. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const names = Array.isArray(options.servers)
    ? [...options.servers]
    : defaultServerNames(typeof options.servers === 'number' ? options.servers : 3);
  await mkdir(LAB_ROOT, { recursive: true, mode: 0o755 });
  const id = await freshId(options.id);
  const runDir = join(LAB_ROOT, id);
  const plan = planLab(id, runDir, names);
  await mkdir(runDir, { mode: 0o700 });
  const lab = new Lab(plan, options);
  try {
    await lab.start();
  } catch (error) {
    lab.log(`lab ${id}: start failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await lab.stop();
    throw error;
  }
  return lab;
}
