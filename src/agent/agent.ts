import type { Cancel } from '../../hal/clock/index.js';
import type { EchoReply } from '../../hal/icmp/index.js';
import { nextSequence } from '../../hal/icmp/identifiers.js';
import { batchFor } from '../../hal/prober/index.js';
import type { ProbeBatch, ProbeRun } from '../../hal/prober/index.js';
import { ip } from '../config/index.js';
import type { LogFields } from '../log/index.js';
import { initialState, step } from '../role/index.js';
import type {
  Action,
  AddressName,
  CheckTarget,
  Event,
  HookName,
  LogLevel,
  MachineConfig,
  OperatorCommand,
  RoleState,
} from '../role/index.js';
import type { ConflictReport } from '../../hal/nic/index.js';
import type { LogLine } from '../log/index.js';
import { PeerHeartbeat, peerMembers } from '../peer/index.js';
import type { PeerObservation } from '../peer/index.js';
import type { CommandOutcome, EchoResult, Operator } from './operator.js';
import { nextRandom } from '../../hal/base/random.js';
import { machineConfig } from './machine-config.js';
import type { AgentPorts, SyncResult } from './ports.js';
import { PowerControl } from './power.js';
import { IsolatingFence } from './isolating-fence.js';
import { readPower } from './power-reading.js';
import type { PowerReading } from './power-reading.js';
import { LeaseService } from '../lease/service.js';
import { NO_ISOLATORS } from '../../hal/isolation/index.js';
import { Samples } from './samples.js';
import type { AgentStatus, Transition } from './status.js';

const HISTORY = 50;

/**
 * The executor: feeds events to the role machine and carries out its actions, in order.
 * It is the only place that changes addresses or persists roles. Every transition is
 * logged as a structured event and kept in the history.
 */
export class Agent implements Operator {
  private readonly mc: MachineConfig;
  private state: RoleState;
  private seed: number;
  private readonly queue: Action[] = [];
  private draining = false;
  private stopped = false;
  private readonly timers = new Map<string, { cancel: Cancel; atUs: number }>();
  private readonly primaryIp: string;
  private readonly rtt = new Samples();
  private readonly jitter = new Samples();
  private readonly history: Transition[] = [];
  private readonly counters = {
    probesSent: 0,
    replies: 0,
    foreignReplies: 0,
    misses: 0,
    syncs: 0,
    syncErrors: 0,
    fences: 0,
    fenceFailures: 0,
  };
  private readonly syncState = {
    completed: 0,
    failed: 0,
    lastOkAtMs: null as number | null,
    lastFiles: 0,
    lastBytes: 0,
    totalBytes: 0,
    lastError: null as string | null,
    serving: false,
  };
  private readonly startedUs: number;
  /** Operator probes (`probe ADDR`), by identifier and sequence: each call its own identifier. */
  private readonly manual = new Map<string, (reply: EchoReply) => void>();
  /** The Prober's run while the monitor probes. */
  private probeRun: ProbeRun | null = null;
  /** BMC power commands for fences and power-on, as the role machine asks. */
  private readonly power: PowerControl;
  /** The takeover fence: the power alone, or with the `isolated` gate the switch port too. */
  private readonly fencer: IsolatingFence;
  /** The peer heartbeat, when `peer.key_file` is set and the builder gave a transport. */
  private readonly heartbeat: PeerHeartbeat | null = null;
  /** The lease service, with `fencing.gate: lease`. */
  private readonly lease: LeaseService | null = null;
  /** The cluster addresses this agent assigned and has not released, for its heartbeats. */
  private readonly holding = new Set<AddressName>();

  constructor(private readonly ports: AgentPorts) {
    // The defence of our addresses compares MACs on the wire: use the NIC's real one.
    this.mc = { ...machineConfig(ports.config), selfMac: ports.nic.mac.toLowerCase() };
    this.seed = ports.seed >>> 0;
    this.state = initialState(this.seed);
    this.primaryIp = ip(ports.config.cluster.primaryAddress);
    this.startedUs = ports.clock.nowUs();
    this.power = new PowerControl({
      bmcs: ports.bmcs,
      // Fencing levels per member (issue 15): absent, the BMC alone.
      levels: ports.fenceLevels ?? null,
      clock: ports.clock,
      powerCycle: this.mc.fencing.powerCycle,
      pollMs: ports.config.fencing.powerPollMs,
      timeoutMs: ports.config.fencing.powerTimeoutMs,
      log: (level, event, text, fields) => this.log(level, event, text, fields),
      stopped: () => this.stopped,
    });
    this.fencer = new IsolatingFence({
      power: this.power,
      isolators: ports.isolators ?? NO_ISOLATORS,
      clock: ports.clock,
      gate: this.mc.fencing.gate,
      log: (level, event, text, fields) => this.log(level, event, text, fields),
      stopped: () => this.stopped,
    });
    const peer = ports.peer ?? null;
    if (peer !== null && ports.config.peer.keyFile !== null) {
      const config = ports.config;
      this.heartbeat = new PeerHeartbeat({
        self: config.node,
        members: peerMembers(config),
        port: config.peer.port,
        intervalMs: config.peer.intervalMs,
        deadAfterMs: config.peer.deadAfterMs,
        key: peer.key,
        transport: peer.transport,
        clock: ports.clock,
        nonce: peer.nonce,
        local: () => ({
          phase: this.state.phase,
          role: this.state.role,
          epoch: this.state.epoch,
          holdsPrimary: this.holding.has('primary'),
          holdsMonitor: this.holding.has('monitor'),
        }),
        onObservation: (o) => this.onPeer(o),
        onSilent: (s) => this.dispatch({ type: 'peer-silent', nowUs: s.nowUs, node: s.node, path: s.path }),
        log: (level, event, text, fields) => this.log(level, event, text, fields),
      });
      if (config.fencing.gate === 'lease') {
        const l = config.lease;
        this.lease = new LeaseService({
          self: config.node,
          members: peerMembers(config),
          port: config.peer.port,
          key: peer.key,
          transport: peer.transport,
          clock: ports.clock,
          nonce: peer.nonce,
          timing: { durationUs: l.durationMs * 1000, drift: l.drift, dropUs: l.dropMs * 1000 },
          renewUs: l.renewMs * 1000,
          enforcer: ports.leaseEnforcer ?? null,
          holdsPrimary: () => this.holding.has('primary'),
          onHeld: (epoch, detail) => this.dispatch({ type: 'lease', nowUs: this.now(), held: true, epoch, detail }),
          onLost: (epoch, detail) => this.dispatch({ type: 'lease', nowUs: this.now(), held: false, epoch, detail }),
          onYield: (epoch, detail) => this.dispatch({ type: 'lease', nowUs: this.now(), held: false, epoch, detail }),
          log: (level, event, text, fields) => this.log(level, event, text, fields),
        });
      }
    }
    if (this.mc.lease !== null && this.lease === null)
      throw new Error('fencing.gate is lease but the agent has no peer transport to ask for a lease on');
  }

  /** Reads the persisted role and boots (FIG. 1). */
  async start(): Promise<void> {
    const configured = this.ports.config.cluster.members.find((m) => m.name === this.ports.config.node)?.mac;
    if (configured !== undefined && configured !== this.mc.selfMac) {
      // Monitors identify the primary's holder by this MAC: a wrong one means no fence.
      this.log(
        'error',
        'mac-mismatch',
        `cluster.members says ${this.ports.config.node} has MAC ${configured}, but ${this.ports.nic.name} has ${this.mc.selfMac}; other monitors cannot fence this server`,
      );
    }
    this.ports.icmp.onReply((reply) => this.onEchoReply(reply));
    this.ports.nic.onLink((up) => this.dispatch({ type: 'link', nowUs: this.now(), up }));
    // The heartbeat starts once the record is read: its first frames carry the persisted
    // epoch, not 0 (peers drop a new boot below the epoch they saw as old-epoch).
    await this.boot();
    if (!this.stopped) this.heartbeat?.start();
  }

  /** Stops taking part: cancels timers and drops queued actions. Holds what it holds. */
  stop(): void {
    this.heartbeat?.stop();
    this.lease?.stop();
    this.stopServing();
    this.stopped = true;
    this.queue.length = 0;
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
    this.stopProbeRun();
  }

  get phase(): RoleState['phase'] {
    return this.state.phase;
  }

  get role(): RoleState['role'] {
    return this.state.role;
  }

  get epoch(): number {
    return this.state.epoch;
  }

  transitions(): readonly Transition[] {
    return this.history;
  }

  get inMaintenance(): boolean {
    return this.state.maintenance;
  }

  async status(): Promise<AgentStatus> {
    const { config, nic } = this.ports;
    const held: string[] = [];
    for (const address of [config.cluster.primaryAddress, config.cluster.monitorAddress]) {
      try {
        if (await nic.holds(address)) held.push(address);
      } catch {
        // The status reports what it can; a NIC error is in the log.
      }
    }
    return {
      node: config.node,
      role: this.state.role,
      phase: this.state.phase,
      epoch: this.state.epoch,
      linkUp: this.state.linkUp,
      maintenance: this.state.maintenance,
      held,
      primaryAddress: config.cluster.primaryAddress,
      monitorAddress: config.cluster.monitorAddress,
      holder: this.state.probe.holder,
      misses: this.state.probe.misses,
      fence: {
        status: this.state.fence.status,
        // The members this takeover fences, as one name or a list.
        target: this.state.fence.targets.length === 0 ? null : this.state.fence.targets.join(', '),
        attempt: this.state.fence.attempt,
      },
      probes: { ...this.counters },
      rttUs: this.rtt.summary(),
      probeJitterUs: this.jitter.summary(),
      sync: {
        ...this.syncState,
        requested: this.counters.syncs,
        lagMs: this.syncState.lastOkAtMs === null ? null : this.ports.clock.wallMs() - this.syncState.lastOkAtMs,
      },
      peers: this.heartbeat?.status() ?? null,
      lease: this.lease?.status() ?? null,
      transitions: this.history.slice(-10),
      fenceHistory: this.power.attempts().slice(-10),
      uptimeS: Math.round((this.now() - this.startedUs) / 1e6),
    };
  }

  // ------------------------------------------------------------ operator (shell, control socket)

  recentLog(count: number): LogLine[] {
    return this.ports.log.recent(count);
  }

  /** The config as loaded. It holds file paths, never a password or key. */
  effectiveConfig(): Record<string, unknown> {
    return JSON.parse(JSON.stringify(this.ports.config)) as Record<string, unknown>;
  }

  command(command: OperatorCommand): CommandOutcome {
    const before = this.state.phase;
    this.log('warn', 'operator-command', `operator command: ${command}`, { command });
    const actions = this.dispatch({ type: 'command', nowUs: this.now(), command });
    const refused = actions.find(
      (a): a is Extract<Action, { type: 'log' }> => a.type === 'log' && a.event === 'command-refused',
    );
    return {
      accepted: refused === undefined,
      from: before,
      to: this.state.phase,
      message: refused?.message ?? `${command} accepted`,
    };
  }

  async probe(address: string, count: number, timeoutMs = 1000): Promise<EchoResult[]> {
    const results: EchoResult[] = [];
    // Its own identifier: an operator's probe never counts as monitoring, nor the reverse.
    const identifier = this.ports.icmp.newIdentifier();
    let sequence = 0;
    for (let i = 0; i < count && !this.stopped; i++) {
      sequence = nextSequence(sequence);
      const key = `${identifier}/${sequence}`;
      const sentUs = this.now();
      const rttUs = await new Promise<number | null>((resolve) => {
        const cancel = this.ports.clock.at(sentUs + timeoutMs * 1000, () => {
          this.manual.delete(key);
          resolve(null);
        });
        this.manual.set(key, (reply) => {
          if (reply.from !== address) return;
          cancel();
          this.manual.delete(key);
          resolve(reply.receivedUs - sentUs);
        });
        this.ports.icmp.send({
          target: address,
          identifier,
          sequence,
          replyWithinUs: timeoutMs * 1000,
        });
      });
      results.push({ sequence, rttUs });
    }
    return results;
  }

  bmcStatus(member: string): Promise<PowerReading> {
    return readPower(this.power, this.ports.isolators ?? NO_ISOLATORS, member);
  }

  /** Operator fence of a member (never this server), as the board's power_cycle says. */
  async fenceMember(member: string): Promise<string> {
    if (member === this.ports.config.node) throw new Error('refusing to fence this server itself');
    if (!this.ports.config.cluster.members.some((m) => m.name === member))
      throw new Error(`no member named ${JSON.stringify(member)}`);
    this.log('warn', 'operator-fence', `operator fences ${member}`, { target: member });
    return (await this.power.fence(member)).detail;
  }

  // ------------------------------------------------------------ event intake

  private now(): number {
    return this.ports.clock.nowUs();
  }

  private async boot(): Promise<void> {
    let record = null;
    try {
      record = await this.ports.store.load();
    } catch (error) {
      // A corrupt record: boot as the default role rather than not at all; the boot checks
      // still protect the addresses. Loudly, since the operator must look at the file.
      this.log('error', 'store-unreadable', `${message(error)}; booting with the default role`);
    }
    let linkUp = true;
    try {
      linkUp = await this.ports.nic.linkUp();
    } catch (error) {
      this.log('error', 'link-unknown', `cannot read link state: ${message(error)}; assuming up`);
    }
    if (this.stopped) return;
    this.dispatch({ type: 'boot', nowUs: this.now(), record, linkUp });
  }

  private dispatch(event: Event): Action[] {
    if (this.stopped) return [];
    const { state, actions } = step(this.mc, this.state, event);
    if (state.probe.misses > this.state.probe.misses) this.counters.misses += 1;
    this.state = state;
    this.queue.push(...actions);
    void this.drain();
    return actions;
  }

  /** Replies to operator probes; the monitor's probes are the Prober's business. */
  private onEchoReply(reply: EchoReply): void {
    this.manual.get(`${reply.identifier}/${reply.sequence}`)?.(reply);
  }

  /** An authenticated heartbeat the service passed on (changed, or due again). */
  private onPeer(o: PeerObservation): void {
    this.dispatch({
      type: 'peer',
      nowUs: o.atUs,
      node: o.node,
      path: o.path,
      phase: o.phase,
      role: o.role,
      epoch: o.epoch,
      holdsPrimary: o.holdsPrimary,
      holdsMonitor: o.holdsMonitor,
    });
  }

  // ------------------------------------------------------------ action execution

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const action = this.queue.shift();
        if (action === undefined) break;
        try {
          await this.execute(action);
        } catch (error) {
          if (action.type === 'persist') {
            // Rule: never act on a role change that is not on disk.
            this.queue.length = 0;
            this.dispatch({ type: 'persist-failed', nowUs: this.now(), detail: message(error) });
          } else if (action.type === 'assign') {
            // Rule: what follows an assignment (announce, hooks) assumes the address is held.
            this.queue.length = 0;
            this.dispatch({
              type: 'assign-failed',
              nowUs: this.now(),
              address: action.address,
              detail: message(error),
            });
          } else {
            this.log('error', 'action-failed', `${action.type} failed: ${message(error)}`, { action: action.type });
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async execute(action: Action): Promise<void> {
    switch (action.type) {
      case 'set-timer':
        return this.setTimer(action.timer, action.atUs);
      case 'cancel-timer':
        return this.cancelTimer(action.timer);
      case 'probe-start':
        return this.startProbeRun(action.atUs);
      case 'probe-stop':
        return this.stopProbeRun();
      case 'persist': {
        const startedUs = this.now();
        await this.ports.store.save({
          role: action.role,
          epoch: action.epoch,
          reason: action.reason,
          atMs: this.ports.clock.wallMs(),
          ...(action.poweredOff === undefined ? {} : { poweredOff: action.poweredOff }),
        });
        const tookMs = Math.round((this.now() - startedUs) / 10) / 100;
        this.log('info', 'persisted', `role ${action.role} persisted at epoch ${action.epoch} (${tookMs} ms)`, {
          role: action.role,
          epoch: action.epoch,
          ms: tookMs,
        });
        return;
      }
      case 'assign':
        if (action.address === 'primary' && this.lease !== null && this.lease.leftUs() <= 0)
          // Rule: under the lease gate no assign without a lease left: the machine asked
          // while it had one, but this server may have stalled since.
          throw new Error('the lease ran out before the primary address could be assigned');
        await this.ports.nic.assign(this.address(action.address));
        if (action.address === 'primary') this.lease?.reassert();
        this.holding.add(action.address);
        this.heartbeat?.sendNow();
        this.log('info', 'address-assigned', `holding the ${action.address} address ${this.address(action.address)}`, {
          address: this.address(action.address),
        });
        return;
      case 'release':
        return this.release(action.address);
      case 'announce':
        return this.announce(action.address);
      case 'check':
        return this.check(action.id, action.address, action.windowUs);
      case 'lookup-holder':
        return this.lookupHolder();
      case 'fence':
        return action.detached === true ? this.detachedFence(action.target) : this.fence(action.target);
      case 'lease-acquire':
        this.lease?.acquire(action.epoch);
        return;
      case 'lease-release':
        this.lease?.release();
        return;
      case 'power-on':
        return this.fencer.powerOn(action.target);
      case 'sync':
        // Not awaited: a sync runs beside the probe loop, never in front of it.
        void this.sync();
        return;
      case 'health-check':
        return this.healthCheck();
      case 'hook':
        return this.hook(action.hook);
      case 'reboot':
        return this.reboot(action.reason);
      case 'transition':
        return this.transition(action);
      case 'log':
        return this.log(action.level, action.event, action.message, action.fields ?? {});
    }
  }

  private setTimer(name: string, atUs: number): void {
    this.timers.get(name)?.cancel();
    const cancel = this.ports.clock.at(atUs, () => {
      this.timers.delete(name);
      this.dispatch({ type: 'timer', nowUs: this.now(), timer: name });
    });
    this.timers.set(name, { cancel, atUs });
  }

  private cancelTimer(name: string): void {
    this.timers.get(name)?.cancel();
    this.timers.delete(name);
  }

  private address(name: AddressName): string {
    return name === 'primary' ? this.ports.config.cluster.primaryAddress : this.ports.config.cluster.monitorAddress;
  }

  private async release(name: AddressName): Promise<void> {
    const address = this.address(name);
    if (!(await this.ports.nic.holds(address))) {
      this.holding.delete(name);
      if (name === 'primary') this.lease?.addressGone();
      return;
    }
    await this.ports.nic.release(address);
    this.holding.delete(name);
    // The address is gone: a lease given up can be released, so a claimant need not wait it out.
    if (name === 'primary') this.lease?.addressGone();
    this.heartbeat?.sendNow();
    this.log('info', 'address-released', `released the ${name} address ${address}`, { address });
  }

  private async announce(name: AddressName): Promise<void> {
    const { count, intervalMs } = this.ports.config.announce;
    if (count === 0) return;
    const startUs = this.now();
    await this.ports.nic.announce(this.address(name), count, intervalMs);
    this.log('info', 'announced', `sent ${count} gratuitous ARP for ${this.address(name)}`, {
      address: this.address(name),
      count,
      tookUs: this.now() - startUs,
    });
  }

  /** Runs a conflict check without holding up the queue; the result comes back as an event. */
  /**
   * The uplink host is heard when it answers one echo within the window: unlike an address
   * check, the answer counts at once (the monitor's check runs beside its detection window,
   * and a fence must not wait for the rest of a window that has already answered).
   */
  private checkUplink(id: number, windowUs: number): void {
    const startUs = this.now();
    const uplink = this.ports.config.cluster.uplinkAddress;
    const ip = uplink === null ? null : (uplink.split('/')[0] ?? null);
    const answer = (heard: boolean, evidence: string[]): void => {
      this.log(heard ? 'debug' : 'warn', 'uplink', `uplink host ${ip ?? 'unset'} ${heard ? 'answers' : 'is silent'}`, {
        heard,
        tookUs: this.now() - startUs,
      });
      this.answerCheck(id, startUs, 'uplink', { taken: heard, evidence });
    };
    if (ip === null) return answer(false, ['cluster.uplink_address is not set']);
    this.probe(ip, 1, Math.max(1, Math.round(windowUs / 1000))).then(
      ([result]) =>
        result?.rttUs === null || result === undefined
          ? answer(false, [])
          : answer(true, [`icmp-reply ${result.rttUs} us`]),
      (error: unknown) => answer(false, [`echo failed: ${message(error)}`]),
    );
  }

  /** A check's answer, as the role machine's event (only the latest check's id counts). */
  private answerCheck(id: number, startedUs: number, address: CheckTarget, report: ConflictReport): void {
    this.dispatch({
      type: 'check-result',
      nowUs: this.now(),
      id,
      startedUs,
      address,
      taken: report.taken,
      contended: report.contended === true,
      evidence: report.evidence,
    });
  }

  private check(id: number, name: CheckTarget, windowUs: number): void {
    if (name === 'uplink') return this.checkUplink(id, windowUs);
    const startUs = this.now();
    const address = this.address(name);
    this.ports.nic.detectConflict(address, windowUs / 1000).then(
      (report) => {
        this.log('info', 'checked', `${name} address ${address} is ${report.taken ? 'taken' : 'silent'}`, {
          address: address,
          taken: report.taken,
          evidence: report.evidence.join(', '),
          tookUs: this.now() - startUs,
        });
        this.answerCheck(id, startUs, name, report);
      },
      (error: unknown) => {
        // Rule: a check that could not be made proves nothing is free: treat it as taken.
        this.log(
          'error',
          'check-failed',
          `conflict check of ${address} failed: ${message(error)}; treating it as taken`,
        );
        this.answerCheck(id, startUs, name, { taken: true, evidence: ['check-failed'] });
      },
    );
  }

  private lookupHolder(): void {
    this.ports.nic.neighborMac(this.primaryIp).then(
      (mac) => this.dispatch({ type: 'holder', nowUs: this.now(), mac }),
      (error: unknown) =>
        this.log('warn', 'holder-lookup-failed', `cannot read the ARP entry of ${this.primaryIp}: ${message(error)}`),
    );
  }

  /**
   * Fences a member through its BMC: the power command (`off`, or `cycle`), then status
   * reads until the power reads off (see `powerFence`). Only a power that never reads off
   * within `fencing.power_timeout_ms`, or a BMC error, is a failed fence.
   */
  private async fence(target: string): Promise<void> {
    // Rule: fence only what this server could take over from: a takeover it cannot persist
    // would leave the fenced server off and nobody holding the address.
    try {
      await this.ports.store.checkWritable();
    } catch (error) {
      this.log('error', 'fence-refused', `not fencing ${target}: the state dir is not writable: ${message(error)}`, {
        target,
      });
      if (this.state.phase !== 'halted')
        this.dispatch({ type: 'persist-failed', nowUs: this.now(), detail: message(error) });
      return;
    }
    const startUs = this.now();
    this.counters.fences += 1;
    this.log('warn', 'fence-start', `fencing ${target} (${this.mc.fencing.powerCycle})`, { target });
    this.fencer.fence(target).then(
      (done) => {
        this.log('warn', 'fence-done', `fenced ${target}: ${done.detail}`, {
          target,
          tookUs: this.now() - startUs,
          offUs: done.offUs,
          polls: done.polls,
          by: done.by,
        });
        this.dispatch({ type: 'fence-result', nowUs: this.now(), target, ok: true, detail: done.detail, by: done.by });
      },
      (error: unknown) => {
        this.counters.fenceFailures += 1;
        this.log('error', 'fence-error', `fencing ${target} failed: ${message(error)}`, {
          target,
          tookUs: this.now() - startUs,
        });
        this.dispatch({ type: 'fence-result', nowUs: this.now(), target, ok: false, detail: message(error) });
      },
    );
  }

  /**
   * A fence the claim does not wait for (the `lease` gate): its outcome is logged, a failure
   * as an alarm, and with off-on fencing the server is powered on again once it read off.
   */
  private detachedFence(target: string): void {
    const startUs = this.now();
    this.counters.fences += 1;
    this.log(
      'warn',
      'fence-start',
      `fencing ${target} (${this.mc.fencing.powerCycle}); the claim waits for the lease, not for this`,
      {
        target,
      },
    );
    this.fencer.fence(target).then(
      (done) => {
        this.log('warn', 'fence-done', `fenced ${target}: ${done.detail}`, {
          target,
          tookUs: this.now() - startUs,
          by: done.by,
        });
        if (this.mc.fencing.powerCycle === 'off-on' && !this.stopped) this.fencer.powerOn(target);
      },
      (error: unknown) => {
        this.counters.fenceFailures += 1;
        this.log('error', 'fence-error', `fencing ${target} failed: ${message(error)}`, {
          target,
          tookUs: this.now() - startUs,
        });
      },
    );
  }

  private sync(): Promise<SyncResult | null> {
    this.counters.syncs += 1;
    const replicator = this.ports.replicator;
    if (replicator === null) {
      this.log('debug', 'sync-due', 'sync due; no replicator configured');
      return Promise.resolve(null);
    }
    const startUs = this.now();
    return replicator.sync(this.primaryIp).then(
      (moved) => {
        if (moved.skipped) return moved;
        Object.assign(this.syncState, {
          completed: this.syncState.completed + 1,
          lastOkAtMs: this.ports.clock.wallMs(),
          lastFiles: moved.files,
          lastBytes: moved.bytes,
          totalBytes: this.syncState.totalBytes + moved.bytes,
          lastError: null,
        });
        if (moved.files > 0 || moved.deleted > 0) {
          this.log(
            'info',
            'synced',
            `synced ${moved.files} file(s), ${moved.bytes} bytes, ${moved.deleted} deletion(s) from the primary`,
            { files: moved.files, bytes: moved.bytes, deleted: moved.deleted, tookUs: this.now() - startUs },
          );
        }
        return moved;
      },
      (error: unknown) => {
        this.counters.syncErrors += 1;
        Object.assign(this.syncState, { failed: this.syncState.failed + 1, lastError: message(error) });
        this.log('error', 'sync-failed', `sync failed: ${message(error)}`);
        return null;
      },
    );
  }

  /** Operator `sync now` (the shell): the monitor's sync at once, outside the probe cadence. */
  syncNow(): Promise<SyncResult | null> {
    if (this.ports.replicator === null) return Promise.reject(new Error('no replicator is configured on this server'));
    if (this.state.phase !== 'monitor')
      return Promise.reject(new Error(`only the monitor syncs from the primary; this server is ${this.state.phase}`));
    this.log('info', 'operator-sync', 'sync now, asked by the operator');
    return this.sync();
  }

  /**
   * How long past its own time limit a health command may take to answer before the check
   * counts as failed: the command runner enforces the limit; this only backs it up, so a
   * runner that never settles cannot stop health checking.
   */
  private static readonly HEALTH_GRACE_MS = 1000;

  /**
   * Runs the health command and always answers with exactly one `health-result`, which is
   * what re-arms the health timer: a failed or thrown run is a failed check, and so is a
   * runner that has not answered HEALTH_GRACE_MS after the command's own limit.
   */
  private healthCheck(): void {
    const health = this.ports.config.health;
    if (health === null) return;
    let answered = false;
    const answer = (ok: boolean, detail: string): void => {
      if (answered) return;
      answered = true;
      cancelGuard();
      this.dispatch({ type: 'health-result', nowUs: this.now(), ok, detail });
    };
    const cancelGuard = this.ports.clock.at(this.now() + (health.intervalMs + Agent.HEALTH_GRACE_MS) * 1000, () =>
      answer(false, `no answer within ${health.intervalMs + Agent.HEALTH_GRACE_MS} ms`),
    );
    // Started inside a promise so that a runner throwing synchronously is a failed check too.
    Promise.resolve()
      .then(() => this.ports.commands.run(health.command, this.hookEnv(), health.intervalMs))
      .then(
        (result) => answer(result.ok, `exit ${result.status}${result.output === '' ? '' : `: ${result.output}`}`),
        (error: unknown) => answer(false, message(error)),
      );
  }

  private hook(name: HookName): void {
    const hooks = this.ports.config.hooks;
    const command = name === 'on_primary' ? hooks.onPrimary : name === 'on_monitor' ? hooks.onMonitor : hooks.onSpare;
    if (command === null) return;
    this.ports.commands.run(command, this.hookEnv(), 60_000).then(
      (result) =>
        this.log(result.ok ? 'info' : 'error', 'hook', `${name} exited ${result.status}`, {
          hook: name,
          ok: result.ok,
          output: result.output,
        }),
      (error: unknown) => this.log('error', 'hook', `${name} could not run: ${message(error)}`, { hook: name }),
    );
  }

  private hookEnv(): Record<string, string> {
    return {
      HOTSPARE_NODE: this.ports.config.node,
      HOTSPARE_ROLE: this.state.role,
      HOTSPARE_EPOCH: String(this.state.epoch),
      HOTSPARE_PRIMARY_ADDRESS: this.ports.config.cluster.primaryAddress,
      HOTSPARE_MONITOR_ADDRESS: this.ports.config.cluster.monitorAddress,
    };
  }

  /** The patent's "reboot", as the board says: re-enter boot here, exit, or reboot the host. */
  private async reboot(reason: string): Promise<void> {
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
    this.stopProbeRun();
    // Rule: a reboot always ends in boot. Whatever fails on the way (a release, the exit or
    // system reboot) is logged, and the agent re-enters boot here, whose checks decide again.
    for (const name of ['primary', 'monitor'] as const) {
      await this.release(name).catch((error: unknown) =>
        this.log('error', 'release-failed', `reboot: could not release the ${name} address: ${message(error)}`),
      );
    }
    const mode = this.ports.config.board.reboot;
    this.log('warn', 'reboot', `reboot (${mode}): ${reason}`, { mode });
    try {
      if (mode === 'exit') return await this.ports.rebooter.exit(75);
      if (mode === 'system') return await this.ports.rebooter.system();
    } catch (error) {
      this.log('error', 'reboot-failed', `reboot (${mode}) failed: ${message(error)}; re-entering boot in process`);
    }
    const { seed } = nextRandom(this.seed);
    this.seed = seed;
    // Check ids keep counting across the reboot, so answers to checks of the previous life
    // that are still in flight cannot pass for answers to the new ones.
    // What the peers said is about them, not about this server's role: it survives the reboot
    // (a fenced or dead-monitor decision in progress does not).
    const peers = { ...this.state.peers, deadSinceUs: null, fencing: false };
    this.state = { ...initialState(seed), checkSeq: this.state.checkSeq, peers };
    await this.boot();
  }

  /** The Prober runs the cadence; its batches become `probe-batch` events. */
  private startProbeRun(atUs: number): void {
    this.stopProbeRun();
    const { intervalUs, timeoutUs } = this.mc.probe;
    try {
      this.probeRun = this.ports.prober.start(
        {
          target: this.primaryIp,
          intervalUs,
          timeoutUs,
          startUs: atUs,
          batch: batchFor(intervalUs),
        },
        (batch) => this.onProbeBatch(batch),
        (error) => {
          this.probeRun = null;
          this.dispatch({ type: 'probe-failed', nowUs: this.now(), detail: message(error) });
        },
      );
    } catch (error) {
      this.dispatch({ type: 'probe-failed', nowUs: this.now(), detail: message(error) });
    }
  }

  private stopProbeRun(): void {
    this.probeRun?.stop();
    this.probeRun = null;
  }

  private onProbeBatch(batch: ProbeBatch): void {
    this.counters.probesSent += batch.lateUs.length;
    for (const late of batch.lateUs) this.jitter.add(late);
    this.counters.replies += batch.answered;
    this.counters.foreignReplies += batch.dropped;
    if (batch.lastRttUs !== null) this.rtt.add(batch.lastRttUs);
    if (batch.answered === 0 && batch.missed === null) return;
    this.dispatch({
      type: 'probe-batch',
      nowUs: this.now(),
      answered: batch.answered,
      lastReplyUs: batch.lastReplyUs,
      missed: batch.missed,
    });
  }

  private transition(action: Extract<Action, { type: 'transition' }>): void {
    const entry: Transition = {
      atMs: this.ports.clock.wallMs(),
      atUs: this.now(),
      from: action.from,
      to: action.to,
      role: this.state.role,
      epoch: action.epoch,
      reason: action.reason,
    };
    this.history.push(entry);
    if (this.history.length > HISTORY) this.history.shift();
    this.log('info', 'transition', `${action.from} -> ${action.to}: ${action.reason}`, {
      from: action.from,
      to: action.to,
      epoch: action.epoch,
    });
    this.ports.console?.(
      `hotspare: ${this.ports.config.node}: ${action.from} -> ${action.to} (epoch ${action.epoch}): ${action.reason}`,
    );
    // The primary serves its key files to the monitor while, and only while, it is primary.
    if (action.to === 'primary' && action.from !== 'primary') this.startServing();
    if (action.from === 'primary' && action.to !== 'primary') this.stopServing();
  }

  private startServing(): void {
    const replicator = this.ports.replicator;
    if (replicator === null) return;
    this.syncState.serving = true;
    replicator.serve(this.primaryIp).then(
      () => this.log('info', 'sync-serving', `serving key files on ${this.primaryIp}`),
      (error: unknown) => {
        this.syncState.serving = false;
        this.log('error', 'sync-serve-failed', `cannot serve key files: ${message(error)}`);
      },
    );
  }

  private stopServing(): void {
    const replicator = this.ports.replicator;
    if (replicator === null || !this.syncState.serving) return;
    this.syncState.serving = false;
    replicator
      .stopServing()
      .catch((error: unknown) => this.log('error', 'sync-stop-failed', `cannot stop serving: ${message(error)}`));
  }

  private log(level: LogLevel, event: string, text: string, fields: LogFields = {}): void {
    this.ports.log.emit({
      atMs: this.ports.clock.wallMs(),
      atUs: this.now(),
      level,
      node: this.ports.config.node,
      event,
      message: text,
      fields,
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
