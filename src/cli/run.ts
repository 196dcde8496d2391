import { LinuxLeaseEnforcer } from '../../hal/lease/linux.js';
import { spawn } from 'node:child_process';
import { IpmitoolBmcFactory } from '../../hal/bmc/ipmitool.js';
import type { IpmitoolBmcOptions } from '../../hal/bmc/ipmitool.js';
import { RmcpBmcFactory } from '../../hal/bmc/rmcp.js';
import { FenceAgentBmcFactory } from '../../hal/bmc/fence-agent.js';
import type { FenceAgentBmcOptions } from '../../hal/bmc/fence-agent.js';
import { RedfishBmcFactory } from '../../hal/bmc/redfish/index.js';
import type { RedfishBmcOptions, TlsCheck } from '../../hal/bmc/redfish/index.js';
import { readFileSync } from 'node:fs';
import type { BmcFactory } from '../../hal/bmc/index.js';
import type { Config } from '../config/index.js';
import { openClock } from '../../hal/clock/native/open.js';
import type { Clock } from '../../hal/clock/index.js';
import type { IcmpEcho } from '../../hal/icmp/index.js';
import { RawIcmpEcho } from '../../hal/icmp/linux.js';
import { LinuxNic } from '../../hal/nic/linux.js';
import { LinuxPeerTransport } from '../../hal/peer/linux.js';
import type { PeerBinding } from '../../hal/peer/index.js';
import { loadTimerBinding } from '../../hal/clock/native/binding.js';
import { EchoChannels } from '../../hal/prober/echo-channel.js';
import { EventLoopProber } from '../../hal/prober/event-loop.js';
import { NativeProber } from '../../hal/prober/native.js';
import type { Prober } from '../../hal/prober/index.js';
import { LinuxSerialPort } from '../../hal/serial/linux.js';
import type { SerialPort } from '../../hal/serial/index.js';
import { FileStore } from '../../hal/store/linux.js';
import { Agent } from '../agent/index.js';
import { loadConfig } from '../config/index.js';
import { ControlServer, operatorHandler } from '../control/index.js';
import { randomBytes } from 'node:crypto';
import type { AgentPorts, PeerPorts } from '../agent/index.js';
import { NONCE_BYTES, PeerKey, peerMembers } from '../peer/index.js';
import { JournalLog, TslogLog } from '../log/index.js';
import type { EventLog, LogFields } from '../log/index.js';
import type { ServiceManager } from '../../hal/systemd/index.js';
import { SystemdJournal, SystemdServiceManager, stdoutIsJournal } from '../../hal/systemd/linux.js';
import { loadUnixDgram } from '../../hal/systemd/native.js';
import type { Operator } from '../agent/operator.js';
import type { LogLevel } from '../role/types.js';
import { LeaseThread } from '../lease/thread/lease-thread.js';
import { leaseTiming, leaseVoters } from '../lease/voters.js';
import { ShellCommands } from '../platform/shell-commands.js';
import { FileSessionJournal } from '../platform/bmc-session-journal.js';
import { replicatorFor } from '../sync/index.js';
import { CommandPacer, serveConsole, serveSocket } from '../shell/index.js';
import type { ShellDeps, ShellSession } from '../shell/index.js';
import { keepMemoryOutOfCoreDumps } from './core-dumps.js';
import { openFenceLevels, openIsolators } from './power-devices.js';
import { BmcIdentityGuard } from '../agent/bmc-identity.js';
import { redactSecretPaths, secretFileModeProblems, secretFileProblems } from './secret-files.js';
import { reloadPlan } from './reload.js';
import { agentVersion } from './version.js';
import { TEST_CLOCK_STEP_ENV, testClock, withTestHooks } from './test-hooks.js';

/**
 * How the agent's process ends, by cause. SIGHUP is not among them: it reloads the config
 * (what can change in place does; the rest is logged as needing a restart).
 */
export const EXIT_CODES = { SIGTERM: 0, SIGINT: 0, fatal: 70 } as const;
/** A shutdown that has not finished by then exits anyway (a release or close that hangs). */
const SHUTDOWN_LIMIT_MS = 5000;
/** A clean stop's handover: how long the demote may take to release the primary address. */
const HANDOVER_RELEASE_LIMIT_MS = 1000;
/** A clean stop's handover: HandoverAck's own limit, inside SHUTDOWN_LIMIT_MS. */
const HANDOVER_ACK_LIMIT_MS = 3000;
/** The IPMI-over-LAN port, where a member's bmc.port is not written. */
const IPMI_PORT = 623;
/** HTTPS, where a member's bmc.port is not written and the client is redfish. */
const REDFISH_PORT = 443;

/**
 * `hotspare run`: the agent on real hardware, in the foreground, until SIGTERM, SIGINT or
 * SIGHUP, or an error nothing caught; each of them releases the addresses and closes the
 * BMC sessions before the process exits (EXIT_CODES).
 */
export async function runAgent(configPath: string): Promise<void> {
  // First, before any secret is read: no process memory in core dumps (core-dumps.ts).
  const coreDumps = keepMemoryOutOfCoreDumps();
  const config = loadConfig(configPath);
  // Secret files the agent would read later (a fence, a shell confirmation, a sync) are
  // vetted now: unreadable, or open to group or others, and the agent does not start.
  const secretProblems = [...secretFileProblems(config), ...secretFileModeProblems(config)];
  if (secretProblems.length > 0) throw new Error(secretProblems.join('\n'));
  // Under systemd: sd_notify (readiness, watchdog, status) and, when stdout is the journal,
  // native journal entries with priorities and fields. Both need the unixdgram addon.
  const dgram = loadUnixDgram();
  const manager = SystemdServiceManager.fromEnv(process.env, typeof dgram === 'string' ? null : dgram);
  const text = new TslogLog(config.log.level, config.log.format);
  const log: AgentLog =
    typeof dgram !== 'string' && stdoutIsJournal(process.env)
      ? new JournalLog(new SystemdJournal(dgram), config.log.level, new TslogLog(config.log.level, 'json'))
      : text;
  if (typeof dgram === 'string' && (process.env['NOTIFY_SOCKET'] ?? '') !== '')
    log.emit({
      atMs: Date.now(),
      atUs: Math.round(performance.now() * 1000),
      level: 'error',
      node: config.node,
      event: 'systemd-unavailable',
      message: `systemd asks for notifications but the unixdgram addon cannot load (${dgram}): no readiness, no watchdog pings`,
      fields: {},
    });
  if (coreDumps !== null)
    log.emit({
      atMs: Date.now(),
      atUs: Math.round(performance.now() * 1000),
      level: 'warn',
      node: config.node,
      event: 'core-dumps',
      message: `core dumps may contain memory (${coreDumps}); set LimitCORE=0 in the unit or ulimit -c 0`,
      fields: {},
    });
  // Everything opened so far, closed in reverse order when startup fails, so a failed start
  // leaves no helper process, socket or session behind and the process can exit.
  const opened = new OpenedResources();
  try {
    await startAgent(configPath, config, log, manager, opened);
  } catch (error) {
    await opened.closeAll();
    throw withoutSecretPaths(error, config);
  }
}

/**
 * A startup error whose message names no secret file: a driver that cannot read a password
 * file names its path, which may be a password typed where the path belongs.
 */
function withoutSecretPaths(error: unknown, config: Config): unknown {
  if (!(error instanceof Error)) return error;
  const message = redactSecretPaths(error.message, config);
  return message === error.message ? error : new Error(message);
}

/** Things opened during startup, each with how to close it. */
class OpenedResources {
  private readonly closers: Array<() => Promise<void> | void> = [];

  add(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  /** Closes everything in reverse order of opening; one failure does not stop the rest. */
  async closeAll(): Promise<void> {
    while (this.closers.length > 0) {
      const close = this.closers.pop();
      if (close !== undefined) await bestEffort(close);
    }
  }
}

/** The agent's log: text (TslogLog) or the journal (JournalLog); both change level on a reload. */
type AgentLog = EventLog & { setThreshold(level: LogLevel): void };

async function startAgent(
  configPath: string,
  config: Config,
  log: AgentLog,
  manager: ServiceManager,
  resources: OpenedResources,
): Promise<void> {
  // The probe core's clock: the timerfd addon when built (microsecond wake-ups), and the
  // real-time scheduler when the config asks for it; an explicit request that fails stops here.
  const opened = openClock({ native: config.clock.native, realtime: config.clock.realtime });
  resources.add(() => opened.close());
  // TEST ONLY (src/cli/test-hooks.ts): a wall clock the lab can step; off unless its env var is set.
  const clock = testClock(opened.clock);
  if (clock !== opened.clock)
    log.emit({
      atMs: clock.wallMs(),
      atUs: clock.nowUs(),
      level: 'warn',
      node: config.node,
      event: 'test-hook',
      message: `${TEST_CLOCK_STEP_ENV}=1: the control socket may step this agent's wall clock (test only)`,
      fields: {},
    });
  log.emit({
    atMs: clock.wallMs(),
    atUs: clock.nowUs(),
    level: 'info',
    node: config.node,
    event: 'clock',
    message: `probe clock: ${opened.description}`,
    fields: { kind: opened.kind, realtime: config.clock.realtime },
  });
  if (opened.warning !== null)
    log.emit({
      atMs: clock.wallMs(),
      atUs: clock.nowUs(),
      level: 'warn',
      node: config.node,
      event: 'clock-fallback',
      message: opened.warning,
      fields: {},
    });
  const icmp = RawIcmpEcho.open(clock);
  resources.add(() => icmp.close());
  const prober = openProber(config, clock, icmp, (level, event, text) =>
    log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message: text, fields: {} }),
  );
  const nic = await LinuxNic.open({ interface: config.board.nic, icmp, clock, realtime: config.clock.realtime });
  resources.add(() => nic.close());
  if (config.clock.realtime > 0)
    log.emit({
      atMs: clock.wallMs(),
      atUs: clock.nowUs(),
      level: nic.childPriority > 0 ? 'info' : 'warn',
      node: config.node,
      event: 'nic-priority',
      message:
        nic.childPriority > 0
          ? `ip -batch and the ARP helper run at SCHED_FIFO ${nic.childPriority}`
          : `ip -batch and the ARP helper run at normal priority: chrt -f ${config.clock.realtime} could not run`,
      fields: { priority: nic.childPriority },
    });
  log.emit({
    atMs: clock.wallMs(),
    atUs: clock.nowUs(),
    level: nic.assignsBy === 'netlink' ? 'info' : 'warn',
    node: config.node,
    event: 'nic-assign',
    message:
      nic.assignsBy === 'netlink'
        ? `addresses are assigned by rtnetlink from the agent's thread (${nic.name})`
        : `addresses are assigned through ip -batch: the netlink addon did not load (make build needs Node's headers)`,
    fields: { by: nic.assignsBy },
  });
  const bmcs = openBmcs(config, (text) =>
    log.emit({
      atMs: clock.wallMs(),
      atUs: clock.nowUs(),
      level: 'warn',
      node: config.node,
      event: 'bmc-session-journal',
      message: text,
      fields: {},
    }),
  );
  if (bmcs instanceof RmcpBmcFactory || bmcs instanceof RedfishBmcFactory) resources.add(() => bmcs.closeAll());
  // Issue 15: the BMC identity check, each member's fencing levels, its switch port.
  const identity = new BmcIdentityGuard(config, bmcs, (level, event, text, fields = {}) =>
    log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message: text, fields }),
  );
  const fenceLevels = openFenceLevels(
    config,
    bmcs,
    config.fencing.bmcIdentity === 'refuse' ? (member) => identity.refusal(member) : null,
  );
  if (fenceLevels !== null) {
    resources.add(() => fenceLevels.closeAll());
    void fenceLevels.warmAll();
  }
  // The members' switch ports, for the `isolated` takeover gate.
  const isolators = openIsolators(config);
  resources.add(() => isolators.closeAll());
  /** Settles once the BMC sessions a previous run left were closed (RMCP+), so checks may open one. */
  let bmcsReady: Promise<unknown> = Promise.resolve();
  const peer = openPeer(
    config,
    clock,
    (level, event, text, fields = {}) =>
      log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message: text, fields }),
    (detail) => {
      note('error', 'fatal', detail, { origin: 'lease thread' });
      void shutdown(EXIT_CODES.fatal, 'lease thread');
    },
  );
  if (peer !== null) resources.add(() => peer.transport.close());
  if (peer?.leaseThread != null) {
    const thread = peer.leaseThread;
    resources.add(() => thread.stop());
  }
  let serial: SerialPort | null = null;
  if (config.board.serial.device !== null) {
    try {
      const port = await LinuxSerialPort.open(config.board.serial.device, config.board.serial.baud);
      resources.add(() => port.close());
      serial = port;
    } catch (error) {
      log.emit({
        atMs: clock.wallMs(),
        atUs: clock.nowUs(),
        level: 'error',
        node: config.node,
        event: 'serial-unavailable',
        message: `cannot open ${config.board.serial.device}: ${error instanceof Error ? error.message : String(error)}`,
        fields: {},
      });
    }
  }
  // The console's maintenance shell, started once the agent exists; role transitions are
  // printed through it so a line being typed on the console is not corrupted.
  let consoleShell: ShellSession | null = null;
  /** Ends the watchdog pings: set once they start, after readiness. */
  let stopWatchdog = (): void => undefined;
  const seed = agentSeed();
  let shuttingDown = false;
  const agent = new Agent({
    config,
    clock,
    icmp,
    prober,
    nic,
    bmcs,
    fenceLevels,
    isolators,
    store: new FileStore(config.stateDir),
    log,
    commands: new ShellCommands(),
    replicator: replicatorFor(config, log, clock),
    peer,
    leaseRunner: leaseRunner(peer?.leaseThread ?? null),
    leaseEnforcer:
      config.fencing.gate === 'lease' && peer?.leaseThread == null
        ? new LinuxLeaseEnforcer(config.board.nic, config.cluster.primaryAddress, (message) =>
            log.emit({
              atMs: clock.wallMs(),
              atUs: clock.nowUs(),
              level: 'error',
              node: config.node,
              event: 'lease-enforcer',
              message,
              fields: {},
            }),
          )
        : null,
    rebooter: {
      exit: (code) => void shutdown(code, `reboot mode exit`),
      system: () => {
        spawn('systemctl', ['reboot'], { stdio: 'ignore', detached: true }).unref();
      },
    },
    seed,
    console: (line) => consoleShell?.notice(line),
  });
  if (config.board.bmc.redfish?.insecure === true)
    log.emit({
      atMs: clock.wallMs(),
      atUs: clock.nowUs(),
      level: 'warn',
      node: config.node,
      event: 'bmc-insecure',
      message: `${config.board.file}: bmc.redfish.insecure is true: the BMCs' certificates are not checked, so anyone on the management network can pose as a BMC and take the password`,
      fields: {},
    });
  if (bmcs instanceof RedfishBmcFactory) {
    // The Redfish sessions, opened now like the RMCP+ ones below; a failure is only reported.
    for (const member of config.cluster.members) {
      if (member.name === config.node || member.bmc === null) continue;
      bmcs
        .open(member.name)
        .warm()
        .then(
          () =>
            log.emit({
              atMs: clock.wallMs(),
              atUs: clock.nowUs(),
              level: 'info',
              node: config.node,
              event: 'bmc-session',
              message: `Redfish session to ${member.name}'s BMC open`,
              fields: { member: member.name },
            }),
          (error: unknown) =>
            log.emit({
              atMs: clock.wallMs(),
              atUs: clock.nowUs(),
              level: 'warn',
              node: config.node,
              event: 'bmc-unreachable',
              message: `cannot open a Redfish session to ${member.name}'s BMC yet: ${error instanceof Error ? error.message : String(error)}`,
              fields: { member: member.name },
            }),
        );
    }
  }
  if (bmcs instanceof RmcpBmcFactory) {
    // First close the sessions a previous run of this agent left open on the BMCs (killed or
    // crashed: see the session journal), each through a fresh session that then stays open.
    // Then open the RMCP+ sessions to the other members' BMCs now, so a fence is a couple of
    // round trips, not a session setup; they are kept alive by the driver. A failure here is
    // only reported: the fence opens the session again when it needs it.
    const emit = (level: 'info' | 'warn', event: string, message: string, fields: LogFields): void =>
      log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message, fields });
    const reclaimed = bmcs.reclaim().then((report) => {
      for (const { record, outcome, detail } of report.outcomes)
        emit(
          'info',
          'bmc-session-reclaimed',
          `${record.member}'s BMC: session 0x${record.bmcSessionId.toString(16)} left by a previous run: ${detail}`,
          {
            member: record.member,
            session: record.bmcSessionId,
            outcome,
          },
        );
      for (const record of report.forgotten)
        emit(
          'info',
          'bmc-session-reclaimed',
          `session 0x${record.bmcSessionId.toString(16)} on ${record.host}:${record.port} left by a previous run: no member has that BMC any more; forgotten`,
          {
            member: record.member,
            session: record.bmcSessionId,
            outcome: 'forgotten',
          },
        );
      for (const [member, error] of report.failures)
        emit(
          'warn',
          'bmc-unreachable',
          `cannot close the sessions a previous run left on ${member}'s BMC yet: ${error.message}`,
          {
            member,
          },
        );
    });
    bmcsReady = reclaimed.catch(() => undefined);
    for (const member of config.cluster.members) {
      if (member.name === config.node || member.bmc === null) continue;
      void reclaimed
        .then(() => bmcs.open(member.name).warm())
        .then(
          () => emit('info', 'bmc-session', `RMCP+ session to ${member.name}'s BMC open`, { member: member.name }),
          (error: unknown) =>
            emit(
              'warn',
              'bmc-unreachable',
              `cannot open a session to ${member.name}'s BMC yet: ${error instanceof Error ? error.message : String(error)}`,
              { member: member.name },
            ),
        );
    }
  }
  if (log instanceof JournalLog) log.describeWith(() => ({ role: agent.phase, epoch: agent.epoch }));
  if (config.fencing.bmcIdentity !== 'off') {
    // Each member's BMC asked once which system it manages; this server's own only when its
    // uuid is not written (then the machine's product_uuid is what only this server can check).
    for (const member of config.cluster.members) {
      if (member.bmc === null || (member.name === config.node && member.uuid !== null)) continue;
      void bmcsReady.then(() => identity.check(member.name)).catch(() => undefined);
    }
  }
  const shellDeps: ShellDeps = {
    operator: withVersion(agent, agentVersion()),
    node: config.node,
    passwordFile: config.shell.passwordFile,
    log: (level, event, message, fields = {}) =>
      log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message, fields }),
    pacer: new CommandPacer(),
  };
  if (serial !== null) consoleShell = serveConsole(serial, config.board.serial.baud, shellDeps);
  // One catalog, password check and pacer for the console, `hotspare shell` and JSON requests.
  const handler = withTestHooks(operatorHandler(shellDeps), clock, (text, fields) =>
    log.emit({
      atMs: clock.wallMs(),
      atUs: clock.nowUs(),
      level: 'warn',
      node: config.node,
      event: 'test-clock-step',
      message: text,
      fields,
    }),
  );
  const control = new ControlServer(config.controlSocket, handler, (socket, initial) =>
    serveSocket(socket, initial, shellDeps),
  );
  await control.listen();
  resources.add(() => control.close());

  function note(level: 'info' | 'error', event: string, text: string, fields: LogFields = {}): void {
    log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message: text, fields });
  }

  /** Stops the agent, gives up its addresses and closes everything, then exits with `code`. */
  async function shutdown(code: number, why: string): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    note('info', 'shutdown', `shutting down (${why}); exit code ${code}`, { why, code });
    manager.notify({ STOPPING: '1', STATUS: `stopping (${why})` });
    setTimeout(() => process.exit(code), SHUTDOWN_LIMIT_MS).unref();
    stopWatchdog();
    if (code === 0) await handOver(agent, nic, config, note);
    // In reverse order of opening: the agent stops and its addresses are released, then the
    // control socket, console, BMC sessions, NIC, ICMP socket and clock close.
    await resources.closeAll();
    process.exit(code);
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => void shutdown(EXIT_CODES[signal], signal));
  let running = config;
  process.on('SIGHUP', () => {
    manager.notify({ RELOADING: '1', MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n) });
    running = reload(configPath, running, log, note);
    manager.notify({ READY: '1', STATUS: statusLine(agent) });
  });
  // An error nothing caught leaves the agent in an unknown state: log it, let go of the
  // addresses through the same shutdown, exit non-zero.
  const fatal = (origin: string, error: unknown): void => {
    note('error', 'fatal', `${origin}: ${describeFatal(error)}`, { origin });
    void shutdown(EXIT_CODES.fatal, origin);
  };
  process.on('uncaughtException', (error) => fatal('uncaught exception', error));
  process.on('unhandledRejection', (reason) => fatal('unhandled rejection', reason));
  // Registered only now: before the agent starts it holds nothing, and an address on the
  // interface then is another agent's (a second agent started by mistake must not take it).
  resources.add(() => stopAndRelease(agent, nic, config));
  await agent.start();
  // Ready: the role machine has booted and the control socket, console and BMC sessions are
  // open. systemd (Type=notify) counts the start done only now.
  manager.notify({ READY: '1', MAINPID: String(process.pid), STATUS: statusLine(agent) });
  note('info', 'ready', `hotspare ${agentVersion()} ready (${agent.phase}, epoch ${agent.epoch})`, {
    version: agentVersion(),
    supervised: manager.supervised,
    watchdogMs: manager.watchdogUs === null ? null : Math.round(manager.watchdogUs / 1000),
  });
  const stopWatchdogPings = pingWatchdog(manager, clock, () => statusLine(agent));
  stopWatchdog = stopWatchdogPings;
}

/**
 * The role machine's seed, for its jitter and backoff: from the kernel's random source, not
 * the PID and the clock. Servers in PID namespaces (containers, the lab) run the agent under
 * the same PID; started together they drew the same delays, backed off in step and contended
 * for the monitor address for good (CI at 0d126ce).
 */
export function agentSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}

/** The agent as the shell and control socket see it, with this build's version in its status. */
function withVersion(agent: Agent, version: string): Operator {
  return {
    status: async () => ({ version, ...(await agent.status()) }),
    transitions: () => agent.transitions(),
    recentLog: (count) => agent.recentLog(count),
    effectiveConfig: () => agent.effectiveConfig(),
    command: (command) => agent.command(command),
    probe: (address, count, timeoutMs) => agent.probe(address, count, timeoutMs),
    bmcStatus: (member) => agent.bmcStatus(member),
    fenceMember: (member) => agent.fenceMember(member),
    syncNow: () => agent.syncNow(),
  };
}

/** systemd's STATUS= line (`systemctl status hotspare`): the phase and epoch. */
function statusLine(agent: Agent): string {
  return `${agent.phase}, epoch ${agent.epoch}${agent.inMaintenance ? ', in maintenance' : ''}`;
}

/**
 * Pings systemd's watchdog (WatchdogSec) at half its period from the probe core's clock, on
 * the event loop that sends the probes and runs the role machine: a loop that hangs stops the
 * pings, and systemd kills and restarts the agent. Returns the function that stops them.
 */
function pingWatchdog(manager: ServiceManager, clock: Clock, status: () => string): () => void {
  const periodUs = manager.watchdogUs;
  if (periodUs === null) return () => undefined;
  const everyUs = Math.max(1000, Math.floor(periodUs / 2));
  let cancel = (): void => undefined;
  let stopped = false;
  const ping = (): void => {
    if (stopped) return;
    manager.notify({ WATCHDOG: '1', STATUS: status() });
    cancel = clock.at(clock.nowUs() + everyUs, ping);
  };
  ping();
  return () => {
    stopped = true;
    cancel();
  };
}

/**
 * A clean stop of a primary hands over without a power cut when the peer protocol is on: the
 * agent demotes itself (persisting `spare` at the next epoch, releasing the primary address,
 * and saying so in an authenticated heartbeat at once), then keeps heartbeating as a spare
 * until the handover's acknowledgement (`handover-acked`, the new holder's authenticated
 * heartbeat) or its limit (`handover-unacked`, at most 3 s): see HandoverAck. Without the
 * peer protocol a release cannot be told from a crash: the addresses are just released and
 * the monitor fences this server as before.
 */
async function handOver(
  agent: Agent,
  nic: LinuxNic,
  config: Config,
  note: (level: 'info' | 'error', event: string, text: string, fields?: LogFields) => void,
): Promise<void> {
  if (config.peer.keyFile === null || agent.phase !== 'primary') return;
  const demotedAtMs = Date.now();
  const demotedAtUs = agent.nowUs();
  const outcome = agent.command('demote');
  if (!outcome.accepted) {
    note('error', 'handover', `clean stop: could not demote (${outcome.message}); the monitor will fence this server`);
    return;
  }
  // The demote's actions run in order: persist, release, then the step down that starts
  // the wait for the acknowledgement.
  const releaseDeadline = demotedAtMs + HANDOVER_RELEASE_LIMIT_MS;
  let acknowledged = agent.handover(demotedAtUs);
  while (Date.now() < releaseDeadline && acknowledged === null) {
    await sleepMs(5);
    acknowledged = agent.handover(demotedAtUs);
  }
  if (acknowledged === null) {
    const holds = await nic.holds(config.cluster.primaryAddress).catch(() => true);
    note(
      'error',
      'handover',
      `clean stop: the demote did not step down within ${HANDOVER_RELEASE_LIMIT_MS} ms${holds ? ' (the primary address is still held)' : ''}; the monitor will fence this server`,
    );
    return;
  }
  note(
    'info',
    'handover',
    'clean stop: demoted and released the primary address; heartbeating as a spare until a member claims it',
  );
  // HandoverAck ends by itself within 3 s; this bound only keeps the stop inside its limit.
  await Promise.race([acknowledged, sleepMs(HANDOVER_ACK_LIMIT_MS + 500)]);
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * SIGHUP: reads and checks the config again. An invalid one is refused (the running config
 * stays); changes to `log.level` take effect; every other change is logged as needing a
 * restart (`systemctl restart hotspare`). Returns the config now in effect.
 */
function reload(
  configPath: string,
  running: Config,
  log: AgentLog,
  note: (level: 'info' | 'error', event: string, text: string, fields?: LogFields) => void,
): Config {
  let next: Config;
  try {
    next = loadConfig(configPath);
    const problems = [...secretFileProblems(next), ...secretFileModeProblems(next)];
    if (problems.length > 0) throw new Error(problems.join('; '));
  } catch (error) {
    const detail = redactSecretPaths(error instanceof Error ? error.message : String(error), running);
    note('error', 'reload', `SIGHUP: the config was not reloaded, the running one stays: ${detail}`);
    return running;
  }
  const plan = reloadPlan(running, next);
  note(
    'info',
    'reload',
    plan.apply.length + plan.restart.length === 0
      ? 'SIGHUP: config reloaded, nothing changed'
      : `SIGHUP: config reloaded${plan.apply.length === 0 ? '' : `; applied: ${plan.apply.join(', ')}`}${plan.restart.length === 0 ? '' : `; changed but needing a restart (systemctl restart hotspare): ${plan.restart.join(', ')}`}`,
    { applied: plan.apply.join(','), restart: plan.restart.join(',') },
  );
  // Applied after the line above, so a stricter level does not hide the news of itself.
  if (plan.apply.includes('log.level')) log.setThreshold(next.log.level);
  const applied = { ...running, log: { ...running.log, level: next.log.level } };
  return applied;
}

/**
 * Stops the agent, then gives up its addresses, so a restart under a supervisor boots cleanly
 * and the monitor sees the primary address go silent rather than a zombie holder.
 */
async function stopAndRelease(agent: Agent, nic: LinuxNic, config: Config): Promise<void> {
  agent.stop();
  for (const address of [config.cluster.primaryAddress, config.cluster.monitorAddress]) {
    await bestEffort(async () => {
      if (await nic.holds(address)) await nic.release(address);
    });
  }
}

/** Runs one shutdown step; a failure there must not keep the others from running. */
async function bestEffort(step: () => Promise<void> | void): Promise<void> {
  try {
    await step();
  } catch {
    // best effort on the way out
  }
}

/**
 * An uncaught error for the log: its name, message and stack frames. A value that is not an
 * Error is named by its type only, since nothing says what it holds.
 */
function describeFatal(error: unknown): string {
  if (!(error instanceof Error)) return `a thrown ${typeof error} (not an Error)`;
  const frames = (error.stack ?? '')
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .slice(0, 8)
    .map((line) => line.trim());
  return [`${error.name}: ${error.message}`, ...frames].join(' | ');
}

/**
 * The peer heartbeat's ports when `peer.key_file` is set: the key (read and checked now; a
 * bad key file stops the start, naming the file), a UDP socket per path bound to this
 * member's fixed addresses (bound later if an address is not there yet), a fresh boot nonce.
 * Under the lease gate with `lease.thread: worker` (or `twins`), the sockets, the lease
 * service and its enforcer are the lease thread's (twin 0's), and the heartbeat's transport
 * goes through it.
 */
function openPeer(
  config: Config,
  clock: Clock,
  log: (level: LogLevel, event: string, text: string, fields?: LogFields) => void,
  onLeaseThreadFailed: (detail: string) => void,
): (PeerPorts & { leaseThread: LeaseThread | null }) | null {
  if (config.peer.keyFile === null) return null;
  const key = PeerKey.fromFile(config.peer.keyFile);
  const self = peerMembers(config).find((m) => m.name === config.node);
  const bindings: PeerBinding[] = [];
  if (self?.lan != null) bindings.push({ path: 'lan', address: self.lan });
  if (self?.mgmt != null) bindings.push({ path: 'mgmt', address: self.mgmt });
  const nonce = randomBytes(NONCE_BYTES);
  if (config.fencing.gate === 'lease' && config.lease.thread !== 'event-loop') {
    // Twins need the timer addon (pinning, the enforcer channel): without it the start stops here.
    const twins =
      config.lease.thread === 'twins'
        ? {
            twinPort: config.peer.port + 1,
            twinMembers: peerMembers(config).map((m) => m.name),
            binding: loadTimerBinding(),
          }
        : null;
    const leaseThread = new LeaseThread({
      self: config.node,
      voters: leaseVoters(config),
      port: config.peer.port,
      key,
      nonce,
      timing: leaseTiming(config),
      renewUs: config.lease.renewMs * 1000,
      bindings,
      enforcer: { iface: config.board.nic, cidr: config.cluster.primaryAddress },
      clockOptions: { native: config.clock.native, realtime: config.clock.realtime },
      twins,
      clock,
      log,
      onFailed: onLeaseThreadFailed,
    });
    return { transport: leaseThread.transport, key, nonce, leaseThread };
  }
  const transport = new LinuxPeerTransport({
    clock,
    port: config.peer.port,
    bindings,
    onBound: (path, address) =>
      log('info', 'peer-bound', `peer heartbeat on ${path} bound to ${address}:${config.peer.port}`, { path, address }),
    onBindProblem: (path, address, detail) =>
      log('warn', 'peer-bind', `peer heartbeat on ${path}: ${detail}`, { path, address }),
  });
  return { transport, key, nonce, leaseThread: null };
}

/**
 * The BMC driver the board asks for: the in-process RMCP+ client, ipmitool per command, a
 * fence agent per command, or the in-process Redfish client.
 */
function openBmcs(config: Config, journalLog: (text: string) => void): BmcFactory {
  const board = config.board.bmc;
  if (board.client === 'fence-agent') return new FenceAgentBmcFactory(fenceAgentMembers(config));
  if (board.client === 'redfish') return new RedfishBmcFactory(redfishMembers(config));
  const members: IpmitoolBmcOptions[] = config.cluster.members.flatMap((m) =>
    m.bmc === null
      ? []
      : [
          {
            member: m.name,
            host: m.bmc.host,
            port: m.bmc.port ?? IPMI_PORT,
            username: m.bmc.username,
            passwordFile: m.bmc.passwordFile,
            interface: board.interface,
            cipherSuite: board.cipherSuite,
            timeoutMs: board.timeoutMs,
            retries: board.retries,
          },
        ],
  );
  if (board.client === 'ipmitool') return new IpmitoolBmcFactory(members);
  // The sessions it opens are noted in the state directory, so the next run closes them if
  // this one is killed (BMCs allow only a few sessions).
  return new RmcpBmcFactory(
    members.map(({ interface: _lanplus, ...options }) => options),
    { journal: new FileSessionJournal(config.stateDir, journalLog) },
  );
}

/** The Redfish client's options per member; the CA file is read now, so a bad one stops the start. */
function redfishMembers(config: Config): RedfishBmcOptions[] {
  const redfish = config.board.bmc.redfish;
  if (redfish === null) throw new Error(`${config.board.file}: bmc.redfish is missing`);
  let tls: TlsCheck;
  if (redfish.caFile !== null) {
    try {
      tls = { kind: 'ca', ca: readFileSync(redfish.caFile, 'utf8') };
    } catch (error) {
      throw new Error(
        `${config.board.file}: bmc.redfish.ca_file: cannot read ${redfish.caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error },
      );
    }
  } else if (redfish.fingerprint !== null) tls = { kind: 'fingerprint', sha256: redfish.fingerprint };
  else tls = { kind: 'insecure' };
  return config.cluster.members.flatMap((m) =>
    m.bmc === null
      ? []
      : [
          {
            member: m.name,
            host: m.bmc.host,
            port: m.bmc.port ?? REDFISH_PORT,
            username: m.bmc.username,
            passwordFile: m.bmc.passwordFile,
            tls,
            system: redfish.system,
            timeoutMs: config.board.bmc.timeoutMs,
            powerCycleSupported: redfish.powerCycleSupported,
          },
        ],
  );
}

/** The fence agent's options per member: the agent's own default port where none is written. */
function fenceAgentMembers(config: Config): FenceAgentBmcOptions[] {
  const agent = config.board.bmc.fenceAgent;
  if (agent === null) throw new Error(`${config.board.file}: bmc.fence_agent is missing`);
  return config.cluster.members.flatMap((m) =>
    m.bmc === null
      ? []
      : [
          {
            member: m.name,
            agent: agent.name,
            host: m.bmc.host,
            port: m.bmc.port,
            username: m.bmc.username,
            passwordFile: m.bmc.passwordFile,
            plug: m.bmc.plug,
            options: agent.options,
            timeoutMs: config.board.bmc.timeoutMs,
          },
        ],
  );
}

/**
 * The probe cadence's engine, as `probe.engine` says: the native thread ('native': it must
 * load; 'auto': when it loads, else the event-loop engine with one warning), or the
 * event-loop engine on the agent's clock and ICMP socket ('event-loop'). Logged once.
 */
function openProber(
  config: Config,
  clock: Clock,
  icmp: IcmpEcho,
  log: (level: 'info' | 'warn', event: string, text: string) => void,
): Prober {
  const eventLoop = (): Prober => new EventLoopProber(clock, new EchoChannels(icmp));
  if (config.probe.engine === 'event-loop') {
    const prober = eventLoop();
    log('info', 'probe-engine', `probe engine: ${prober.description} (probe.engine is event-loop)`);
    return prober;
  }
  try {
    // The probe thread gets the main thread's real-time priority (clock.realtime), if any.
    const prober = NativeProber.load({ realtime: config.clock.realtime, identifiers: icmp });
    log('info', 'probe-engine', `probe engine: ${prober.description}`);
    return prober;
  } catch (error) {
    if (config.probe.engine === 'native') throw error;
    const prober = eventLoop();
    log(
      'warn',
      'probe-engine',
      `probe engine: ${prober.description}; the native prober is unavailable (${error instanceof Error ? error.message : String(error)})`,
    );
    return prober;
  }
}

/** The agent's lease service from the lease thread, when there is one. */
function leaseRunner(thread: LeaseThread | null): NonNullable<AgentPorts['leaseRunner']> | null {
  return thread === null ? null : (callbacks) => thread.handle(callbacks);
}
