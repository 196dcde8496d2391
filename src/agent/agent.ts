import { nextRandom } from '../../hal/base/random.js';
import { ip } from '../config/index.js';
import type { LogLine } from '../log/index.js';
import { initialState, step } from '../role/index.js';
import type { Action, Event, OperatorCommand, RoleState, StepResult } from '../role/index.js';
import { Addresses } from './addresses.js';
import type { ExecutorContext } from './context.js';
import { logTo, message, newCounters } from './context.js';
import { Fencing } from './fencing.js';
import { HandoverAck } from './handover-ack.js';
import type { HandoverOutcome } from './handover-ack.js';
import { HealthAndHooks } from './health-hooks.js';
import { Lifecycle } from './lifecycle.js';
import { TransitionHistory } from './history.js';
import { machineConfig } from './machine-config.js';
import { MonitorProbing } from './monitor-probing.js';
import type { CommandOutcome, EchoResult, Operator } from './operator.js';
import { OperatorCommands } from './operator-commands.js';
import { PeerLinks } from './peer-links.js';
import type { AgentPorts, SyncResult } from './ports.js';
import type { PowerReading } from './power-reading.js';
import { Replication } from './replication.js';
import { RoleTimers } from './timers.js';
import type { AgentStatus, Transition } from './status.js';

/**
 * The executor: feeds events to the role machine and carries out its actions, in order,
 * through its parts (addresses, fencing, probing, replication, health and hooks, peers).
 * It is the only place that changes addresses or persists roles.
 */
export class Agent implements Operator {
  private readonly x: ExecutorContext;
  private state: RoleState;
  private seed: number;
  private readonly queue: Action[] = [];
  private draining = false;
  private stopped = false;
  private readonly timers: RoleTimers;
  private readonly history: TransitionHistory;
  private readonly peers: PeerLinks;
  private readonly addresses: Addresses;
  private readonly fencing: Fencing;
  private readonly probing: MonitorProbing;
  private readonly replication: Replication;
  private readonly handoverAck: HandoverAck;
  /** The epoch at which this server last became primary: what a handover's taker must exceed. */
  private primaryEpoch = 0;
  private readonly health: HealthAndHooks;
  private readonly operator: OperatorCommands;
  private readonly lifecycle: Lifecycle;

  constructor(private readonly ports: AgentPorts) {
    this.seed = ports.seed >>> 0;
    this.state = initialState(this.seed);
    this.x = {
      ports,
      // The defence of our addresses compares MACs on the wire: use the NIC's real one.
      mc: { ...machineConfig(ports.config), selfMac: ports.nic.mac.toLowerCase() },
      primaryIp: ip(ports.config.cluster.primaryAddress),
      counters: newCounters(),
      now: () => ports.clock.nowUs(),
      log: logTo(ports),
      dispatch: (event) => this.dispatch(event),
      state: () => this.state,
      stopped: () => this.stopped,
    };
    this.timers = new RoleTimers(ports.clock, (timer) => this.dispatch({ type: 'timer', nowUs: this.x.now(), timer }));
    this.history = new TransitionHistory(this.x);
    this.fencing = new Fencing(this.x);
    this.peers = new PeerLinks(this.x);
    this.probing = new MonitorProbing(this.x);
    this.replication = new Replication(this.x);
    this.handoverAck = new HandoverAck(this.x);
    this.operator = new OperatorCommands(this.x, {
      ...{
        probing: this.probing,
        replication: this.replication,
        peers: this.peers,
        history: this.history,
        fencing: this.fencing,
      },
      startedUs: ports.clock.nowUs(),
    });
    this.addresses = new Addresses(this.x, this.peers, (a, n, t) => this.operator.probe(a, n, t));
    this.health = new HealthAndHooks(this.x);
    this.lifecycle = new Lifecycle(this.x, this.addresses);
  }

  /** Reads the persisted role and boots (FIG. 1). */
  async start(): Promise<void> {
    this.lifecycle.checkOwnMac();
    this.ports.icmp.onReply((reply) => this.operator.onEchoReply(reply));
    this.ports.nic.onLink((up) => this.dispatch({ type: 'link', nowUs: this.x.now(), up }));
    // The heartbeat starts once the record is read: its first frames carry the persisted
    // epoch, not 0 (peers drop a new boot below the epoch they saw as old-epoch).
    await this.boot();
    if (!this.stopped) this.peers.start();
  }

  /** Stops taking part: cancels timers and drops queued actions. Holds what it holds. */
  stop(): void {
    this.handoverAck.stop();
    this.peers.stop();
    this.addresses.close();
    this.replication.stopServing();
    this.stopped = true;
    this.queue.length = 0;
    this.cancelTimers();
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

  get inMaintenance(): boolean {
    return this.state.maintenance;
  }

  // ------------------------------------------------------------ operator (shell, control socket)

  status(): Promise<AgentStatus> {
    return this.operator.status();
  }

  transitions(): readonly Transition[] {
    return this.history.all();
  }

  recentLog(count: number): LogLine[] {
    return this.ports.log.recent(count);
  }

  effectiveConfig(): Record<string, unknown> {
    return this.operator.effectiveConfig();
  }

  command(command: OperatorCommand): CommandOutcome {
    return this.operator.command(command);
  }

  probe(address: string, count: number, timeoutMs = 1000): Promise<EchoResult[]> {
    return this.operator.probe(address, count, timeoutMs);
  }

  bmcStatus(member: string): Promise<PowerReading> {
    return this.fencing.readPower(member);
  }

  fenceMember(member: string): Promise<string> {
    return this.fencing.operatorFence(member);
  }

  syncNow(): Promise<SyncResult | null> {
    return this.replication.syncNow();
  }

  /**
   * The acknowledgement of a handover (this server stepped down from primary) begun at or
   * after `sinceUs` on the agent's clock; null: none began (or no peer protocol).
   */
  handover(sinceUs: number): Promise<HandoverOutcome> | null {
    return this.handoverAck.since(sinceUs);
  }

  /** The agent's clock, in µs (what `handover` counts from). */
  nowUs(): number {
    return this.x.now();
  }

  // ------------------------------------------------------------ the queue

  private async boot(): Promise<void> {
    const { record, linkUp } = await this.lifecycle.readBoot();
    if (this.stopped) return;
    this.dispatch({ type: 'boot', nowUs: this.x.now(), record, linkUp, bootId: this.x.ports.clock.bootId() });
  }

  private dispatch(event: Event): StepResult {
    if (this.stopped) return { state: this.state, actions: [] };
    if (event.type === 'peer') this.handoverAck.onPeer(event.node, event.epoch, event.holdsPrimary);
    const result = step(this.x.mc, this.state, event);
    if (result.state.probe.misses > this.state.probe.misses) this.x.counters.misses += 1;
    this.state = result.state;
    this.queue.push(...result.actions);
    void this.drain();
    return result;
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const action = this.queue.shift();
        if (action === undefined) break;
        await this.execute(action).catch((error: unknown) => this.failed(action, message(error)));
      }
    } finally {
      this.draining = false;
    }
  }

  private failed(action: Action, detail: string): void {
    const nowUs = this.x.now();
    // Rule: never act on a role change that is not on disk; and what follows an assignment
    // (announce, hooks) assumes the address is held.
    if (action.type === 'persist' || action.type === 'assign') this.queue.length = 0;
    if (action.type === 'persist') this.dispatch({ type: 'persist-failed', nowUs, detail });
    else if (action.type === 'assign') this.dispatch({ type: 'assign-failed', nowUs, address: action.address, detail });
    else this.x.log('error', 'action-failed', `${action.type} failed: ${detail}`, { action: action.type });
  }

  private async execute(action: Action): Promise<void> {
    switch (action.type) {
      case 'set-timer':
        return this.timers.set(action.timer, action.atUs);
      case 'cancel-timer':
        return this.timers.cancel(action.timer);
      case 'probe-start':
        return this.probing.start(action.atUs);
      case 'probe-stop':
        return this.probing.stop();
      case 'persist':
        return this.lifecycle.persist(action);
      case 'assign':
        return this.addresses.assign(action.address);
      case 'release':
        return this.addresses.release(action.address);
      case 'announce':
        return this.addresses.announce(action.address);
      case 'check':
        return this.addresses.check(action.id, action.address, action.windowUs);
      case 'lookup-holder':
        return this.addresses.lookupHolder();
      case 'pin-neighbor':
        return this.addresses.pinNeighbor(action.mac);
      case 'fence':
        if (action.detached !== true && this.state.phase === 'monitor' && this.ports.config.fencing.gate !== 'lease')
          this.watchThroughFence();
        return action.detached === true
          ? this.fencing.detachedFence(action.target, action.id)
          : this.fencing.fence(action.target, action.id);
      case 'lease-acquire':
        return this.peers.acquireLease(action.epoch);
      case 'lease-release':
        return this.peers.releaseLease();
      case 'power-on':
        return this.fencing.powerOn(action.target, action.waitOffUntilUs);
      case 'sync':
        // Not awaited: a sync runs beside the probe loop, never in front of it.
        void this.replication.sync();
        return;
      case 'final-sync': {
        // Not awaited: the [0013] confirmation runs meanwhile; the machine waits for the end.
        const from = action.from;
        void this.replication
          .finalSync(from)
          .then((ended) => this.dispatch({ type: 'final-sync-done', nowUs: this.x.now(), from, ...ended }));
        return;
      }
      case 'health-check':
        return this.health.healthCheck();
      case 'hook':
        return this.health.hook(action.hook);
      case 'reboot':
        return this.reboot(action.reason);
      case 'transition':
        // The watch serves one takeover's confirmation: leaving the takeover ends it.
        if (action.to !== 'monitor' && action.to !== 'confirming') this.addresses.confirmWatch.stop();
        if (action.to === 'primary') {
          this.primaryEpoch = action.epoch;
          // Primary again (promoted back): nobody is expected to take the address over.
          this.handoverAck.stop();
        }
        // A handover: the monitor's claim, heard in its heartbeat, acknowledges it.
        if (action.from === 'primary' && action.to === 'spare' && this.x.mc.peer !== null)
          this.handoverAck.start(this.primaryEpoch);
        this.history.record(action);
        return this.replication.onTransition(action.from, action.to);
      case 'log':
        return this.x.log(action.level, action.event, action.message, action.fields ?? {});
    }
  }

  /**
   * [0013] through the fence: the primary address is watched from the takeover's fences on,
   * for at most the fence's own limit and a confirmation window (README "Takeover").
   */
  private watchThroughFence(): void {
    const f = this.ports.config.fencing;
    const limitUs = (f.powerTimeoutMs + f.confirmMs) * 1000 + 5_000_000;
    this.addresses.confirmWatch.start(this.ports.config.cluster.primaryAddress, f.confirmMs * 1000, limitUs);
  }

  /** Every timer, and the Prober's run. */
  private cancelTimers(): void {
    this.timers.cancelAll();
    this.probing.stop();
  }

  /** The board's reboot; in process (`restart`): a fresh role state, through boot again. */
  private async reboot(reason: string): Promise<void> {
    this.cancelTimers();
    // Fences still running belong to the life that ends here.
    this.fencing.newLife();
    if (!(await this.lifecycle.reboot(reason))) return;
    const { seed } = nextRandom(this.seed);
    this.seed = seed;
    // Check and fence ids keep counting across the reboot, so answers to checks of the
    // previous life that are still in flight cannot pass for answers to the new ones, and a
    // fence id names one fence in this process's log.
    // What the peers said is about them, not about this server's role: it survives the reboot
    // (a fenced or dead-monitor decision in progress does not).
    const peers = { ...this.state.peers, deadSinceUs: null, fencing: false };
    this.state = { ...initialState(seed), checkSeq: this.state.checkSeq, fenceSeq: this.state.fenceSeq, peers };
    await this.boot();
  }
}
