import { SimBmcController, SimBmcFactory } from '../../hal/bmc/sim.js';
import { VirtualClock } from '../../hal/clock/sim.js';
import { SimIcmpEcho } from '../../hal/icmp/sim.js';
import { SimLeaseEnforcer } from '../../hal/lease/sim.js';
import { SimIsolationController, SimIsolatorFactory } from '../../hal/isolation/sim.js';
import { SimNic } from '../../hal/nic/sim.js';
import { SimPeerNet, SimPeerTransport } from '../../hal/peer/sim.js';
import type { PeerBinding } from '../../hal/peer/index.js';
import { EchoChannels } from '../../hal/prober/echo-channel.js';
import { EventLoopProber } from '../../hal/prober/event-loop.js';
import { HostClock } from '../../hal/sim/host-clock.js';
import { SimLan, ipOf } from '../../hal/sim/lan.js';
import type { SimHost } from '../../hal/sim/lan.js';
import { SimStore } from '../../hal/store/sim.js';
import { Agent } from '../agent/index.js';
import type { CommandRunner } from '../agent/index.js';
import { parseBoard, parseConfig } from '../config/index.js';
import type { Config } from '../config/index.js';
import { MemoryLog } from '../log/index.js';
import { NONCE_BYTES, PeerKey } from '../peer/index.js';
import { LeaseWitness } from '../lease/witness.js';
import { leaseTiming, leaseVoters } from '../lease/voters.js';
import { nextRandom } from '../../hal/base/random.js';

export interface SimOptions {
  nodes: number;
  seed: number;
  /** Config keys as in the YAML file (snake_case), merged over the simulation's defaults. */
  config?: Record<string, unknown>;
  /** Board keys as in a board file, merged over the simulation's board (e.g. `bmc.power_cycle`). */
  board?: Record<string, unknown>;
  /** How long a powered-on server takes to start its agent. */
  bootDelayUs?: number;
  latencyUs?: number;
  /** A gateway on the LAN that agents hear before claiming or fencing (default true). */
  uplink?: boolean;
  /** Every BMC's delay from an acknowledged power off to the power going off (0: at once). */
  bmcOffDelayUs?: number;
  /**
   * The authenticated peer heartbeat on both paths (members' fixed LAN addresses
   * 198.18.0.(11+i), management 198.18.1.(21+i), one cluster key); default true.
   */
  peers?: boolean;
  /** Every server's switch port can be shut by the others (an isolation device); default false. */
  isolation?: boolean;
  /**
   * A lease witness (`lease.witness`, the third voter of a two-member lease cluster) on its
   * own simulated machine at WITNESS_ADDRESS, started by `bootAll`; default false.
   */
  witness?: boolean;
}

export interface SimNode {
  name: string;
  host: SimHost;
  store: SimStore;
  bmc: SimBmcController;
  log: MemoryLog;
  config: Config;
  agent: Agent | null;
  /** The running agent's ICMP driver (test control: inject packets). */
  icmp: SimIcmpEcho | null;
  /** The running agent's peer transport (test control: inject datagrams); null: peers off. */
  peer: SimPeerTransport | null;
  /** What the simulated service health check answers. */
  healthy: boolean;
  /** Test control: when set, runs this node's hooks and health checks instead of `healthy`. */
  commands: CommandRunner | null;
  starts: number;
  /** Ground truth: every change of the server's power, whoever made it (BMC, fault, test). */
  powerLog: Array<{ atUs: number; on: boolean }>;
}

const PRIMARY = '198.18.0.10/24';
const MONITOR = '198.18.0.9/24';
const UPLINK = { ip: '198.18.0.1', mac: '02:00:00:00:00:01' };
const WITNESS = { name: 'w', address: '198.18.0.50/24', mac: '02:00:00:00:00:50' };

/**
 * N agents with simulated drivers on one simulated LAN, in virtual time: the deterministic
 * cluster for tests and `hotspare simulate`.
 */
export class SimCluster {
  readonly clock = new VirtualClock();
  readonly lan: SimLan;
  /** The peer heartbeat's two paths (LAN and management). */
  readonly peerNet: SimPeerNet;
  /** The simulated cluster's peer key (the secret itself: there is no file). */
  readonly peerKey = PeerKey.fromSecret(Buffer.from('hotspare simulated cluster peer key'));
  readonly nodes = new Map<string, SimNode>();
  private readonly controllers = new Map<string, SimBmcController>();
  /** The switch ports, when `isolation` is on (test control: take the switch down, read its commands). */
  readonly switchPorts = new Map<string, SimIsolationController>();
  private readonly bootDelayUs: number;
  /** The witness's machine (test control: cut its cable, power it off), when `witness` is on. */
  readonly witnessHost: SimHost | null = null;
  /** The running witness; null when off, or powered off. */
  witness: LeaseWitness | null = null;
  /** The witness's log. */
  readonly witnessLog = new MemoryLog(20_000);

  constructor(readonly options: SimOptions) {
    this.lan = new SimLan(this.clock, options.latencyUs ?? 50, options.seed ^ 0x5eed);
    this.bootDelayUs = options.bootDelayUs ?? 500_000;
    this.peerNet = new SimPeerNet(this.lan, options.seed ^ 0x9ee7);
    const peers = options.peers ?? true;
    const uplink = options.uplink ?? true;
    if (uplink) this.lan.uplink = UPLINK;
    const names = Array.from({ length: options.nodes }, (_, i) => String.fromCharCode(97 + i));
    const members = names.map((name, i) => ({
      name,
      mac: macOf(i),
      ...(peers ? { address: `198.18.0.${11 + i}/24`, mgmt_address: `198.18.1.${21 + i}/24` } : {}),
      bmc: { host: `198.18.1.${11 + i}`, port: 623, username: 'admin', password_file: `/sim/${name}.pass` },
      // The simulated switch port (SimIsolationController) stands for this device.
      ...(options.isolation === true
        ? {
            isolation: {
              device: 'snmp-ifmib',
              host: UPLINK.ip,
              community_file: '/sim/switch.community',
              if_index: 11 + i,
            },
          }
        : {}),
    }));
    const board = parseBoard(
      'sim:board.yaml',
      mergeDeep(
        { name: 'sim', nic: 'sim0', bmc: { power_cycle: 'off-on', timeout_ms: 2000 }, reboot: 'restart' },
        options.board ?? {},
      ),
    );
    names.forEach((name, i) => {
      const doc = mergeDeep(
        {
          node: name,
          board: 'sim:board.yaml',
          cluster: {
            primary_address: PRIMARY,
            monitor_address: MONITOR,
            members,
            ...(uplink ? { uplink_address: `${UPLINK.ip}/24` } : {}),
          },
          probe: { interval_ms: 10, timeout_ms: 10, misses: 3 },
          boot: { jitter_ms: 50, check_ms: 20 },
          spare: { check_ms: 500, jitter_ms: 300 },
          ...(peers ? { peer: { key_file: '/sim/peer.key' } } : {}),
          ...(options.witness === true ? { lease: { witness: { name: WITNESS.name, address: WITNESS.address } } } : {}),
          state_dir: `/sim/${name}`,
          control_socket: `/sim/${name}.sock`,
        },
        options.config ?? {},
      );
      const config = parseConfig(`sim:${name}.yaml`, doc, () => board);
      const host = this.lan.addHost(name, macOf(i));
      const bmc = new SimBmcController(name, this.clock, {
        power: () => (host.powered ? 'on' : 'off'),
        setPower: (on) => (on ? this.powerOn(name) : this.powerOff(name)),
      });
      bmc.offDelayUs = options.bmcOffDelayUs ?? 0;
      this.controllers.set(name, bmc);
      if (options.isolation === true) this.switchPorts.set(name, new SimIsolationController(name, this.clock, host));
      this.nodes.set(name, {
        name,
        host,
        store: new SimStore(`sim:${name}/role.json`),
        bmc,
        log: new MemoryLog(20_000),
        config,
        agent: null,
        icmp: null,
        peer: null,
        healthy: true,
        commands: null,
        starts: 0,
        powerLog: [],
      });
    });
    if (options.witness === true) this.witnessHost = this.lan.addHost(WITNESS.name, WITNESS.mac);
  }

  /**
   * Starts the lease witness on its machine (powered on if it was off): the same voter as
   * `hotspare witness`, on the simulated LAN.
   */
  startWitness(): void {
    const host = this.witnessHost;
    if (host === null || this.witness !== null) return;
    if (!host.powered) host.powerOn();
    const config = [...this.nodes.values()][0]?.config;
    if (config === undefined) return;
    const clock = new HostClock(this.clock, host);
    const transport = new SimPeerTransport(
      this.peerNet,
      host,
      [{ path: 'lan', address: ipOf(WITNESS.address) }],
      config.peer.port,
    );
    const log = this.witnessLog;
    this.witnessStarts += 1;
    this.witness = new LeaseWitness({
      self: WITNESS.name,
      voters: leaseVoters(config),
      port: config.peer.port,
      key: this.peerKey,
      transport,
      clock,
      // A nonce per start, as a real process draws one: the members' replay guards would
      // drop a restarted witness's frames whose counter starts again under the same nonce.
      nonce: seededNonce((this.options.seed ^ 0x77) + 7919 * this.witnessStarts),
      timing: leaseTiming(config),
      log: (level, event, message, fields = {}) =>
        log.emit({ atMs: 0, atUs: this.clock.nowUs(), level, node: WITNESS.name, event, message, fields }),
    });
    this.witnessTransport = transport;
  }

  /** The witness's machine loses power: it forgets every promise (quiet for Q when started again). */
  stopWitness(): void {
    this.witness?.stop();
    this.witness = null;
    this.witnessTransport?.close();
    this.witnessTransport = null;
    this.witnessHost?.powerOff();
  }

  private witnessTransport: SimPeerTransport | null = null;
  private witnessStarts = 0;

  node(name: string): SimNode {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no simulated node ${name}`);
    return node;
  }

  /** Boots every server at the same virtual instant. */
  async bootAll(): Promise<void> {
    this.startWitness();
    for (const name of this.nodes.keys()) this.startAgent(name);
    await this.clock.runFor(0);
  }

  startAgent(name: string): void {
    const node = this.node(name);
    const host = node.host;
    if (!host.powered || node.agent !== null) return;
    const life = host.life;
    const commands: CommandRunner = {
      run: async (command, env, timeoutMs) => {
        if (node.commands !== null) return node.commands.run(command, env, timeoutMs);
        return node.healthy
          ? { ok: true, status: '0', output: '' }
          : { ok: false, status: '1', output: 'service down (simulated)' };
      },
    };
    node.starts += 1;
    const icmp = new SimIcmpEcho(this.lan, host);
    node.icmp = icmp;
    const clock = new HostClock(this.clock, host);
    const peer = this.peerTransport(node);
    node.peer = peer;
    const seed = (this.options.seed * 7919 + name.charCodeAt(0) * 104729 + node.starts * 15485863) >>> 0;
    const agent = new Agent({
      config: node.config,
      clock,
      icmp,
      // Whatever probe.engine says: in virtual time the probes run on the event-loop engine.
      prober: new EventLoopProber(clock, new EchoChannels(icmp)),
      nic: new SimNic(this.lan, host),
      // BMCs sit on the management LAN: a server cut off from it cannot reach them.
      bmcs: new SimBmcFactory(
        this.controllers,
        (fn) => host.deliver(life, fn),
        () => host.onMgmt,
      ),
      isolators: new SimIsolatorFactory(this.switchPorts, (fn) => host.deliver(life, fn)),
      // A process of its own: it runs on the cluster's clock, hung agent or not.
      leaseEnforcer:
        node.config.fencing.gate === 'lease'
          ? new SimLeaseEnforcer(this.clock, host, ipOf(PRIMARY), node.config.lease.dropMs * 500)
          : null,
      store: node.store,
      log: node.log,
      commands,
      replicator: null,
      peer: peer === null ? null : { transport: peer, key: this.peerKey, nonce: seededNonce(seed) },
      rebooter: { exit: () => this.powerOff(name), system: () => this.powerCycle(name) },
      seed,
    });
    node.agent = agent;
    void agent.start();
  }

  /**
   * The agent process dies (SIGKILL); the server and its kernel stay up, addresses and all,
   * and so does its lease enforcer (a process of its own). `startAgent` starts it again.
   */
  killAgent(name: string): void {
    const node = this.node(name);
    node.agent?.stop();
    node.agent = null;
  }

  /** A peer transport bound to the node's own addresses, when its config turns peers on. */
  private peerTransport(node: SimNode): SimPeerTransport | null {
    const { config } = node;
    if (config.peer.keyFile === null) return null;
    const self = config.cluster.members.find((m) => m.name === config.node);
    const bindings: PeerBinding[] = [];
    if (self?.address != null) bindings.push({ path: 'lan', address: ipOf(self.address) });
    if (self?.mgmtAddress != null) bindings.push({ path: 'mgmt', address: ipOf(self.mgmtAddress) });
    return new SimPeerTransport(this.peerNet, node.host, bindings, config.peer.port);
  }

  /** Power loss: the agent dies with everything the kernel held; the disk stays. */
  powerOff(name: string): void {
    const node = this.node(name);
    if (!node.host.powered) return;
    node.agent?.stop();
    node.agent = null;
    node.icmp = null;
    node.peer?.close();
    node.peer = null;
    node.host.powerOff();
    node.powerLog.push({ atUs: this.clock.nowUs(), on: false });
  }

  /** Power on: the server boots its OS, then starts the agent. */
  powerOn(name: string): void {
    const node = this.node(name);
    if (node.host.powered) return;
    node.host.powerOn();
    node.powerLog.push({ atUs: this.clock.nowUs(), on: true });
    const life = node.host.life;
    this.clock.at(this.clock.nowUs() + this.bootDelayUs, () => {
      if (node.host.life === life && node.host.powered) this.startAgent(name);
    });
  }

  powerCycle(name: string): void {
    this.powerOff(name);
    this.powerOn(name);
  }

  /** Ground truth: was `name` powered off at some instant in [fromUs, toUs]? */
  wasOffDuring(name: string, fromUs: number, toUs: number): boolean {
    const log = this.node(name).powerLog;
    const before = log.filter((p) => p.atUs <= fromUs).at(-1);
    if (before !== undefined && !before.on) return true;
    return log.some((p) => !p.on && p.atUs > fromUs && p.atUs <= toUs);
  }

  /** Servers whose link is up and whose kernel holds the address. */
  holders(address: string): string[] {
    return this.lan
      .holders(ipOf(address))
      .map((h) => h.name)
      .sort();
  }

  primaryHolders(): string[] {
    return this.holders(PRIMARY);
  }

  monitorHolders(): string[] {
    return this.holders(MONITOR);
  }

  /** name -> phase of each running agent ('off' when powered off, 'starting' between). */
  phases(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, node] of this.nodes)
      out[name] = !node.host.powered ? 'off' : node.agent === null ? 'starting' : node.agent.phase;
    return out;
  }

  /**
   * Steady state: one primary, one monitor (if there are two healthy servers), the rest spares.
   * A spare in its periodic check of the monitor address (`spare-checking`) is a spare: the
   * check is part of a spare's steady state, and it holds nothing.
   */
  converged(): boolean {
    const phases = Object.values(this.phases());
    const up = [...this.nodes.values()].filter((n) => n.host.linkUp).length;
    const primaries = phases.filter((p) => p === 'primary').length;
    const monitors = phases.filter((p) => p === 'monitor').length;
    const spares = phases.filter((p) => p === 'spare' || p === 'spare-checking').length;
    return (
      primaries === 1 &&
      monitors === Math.min(1, up - 1) &&
      spares === up - 1 - monitors &&
      this.primaryHolders().length === 1
    );
  }

  async stop(): Promise<void> {
    for (const node of this.nodes.values()) node.agent?.stop();
    this.witness?.stop();
  }
}

export const SIM_PRIMARY = PRIMARY;
export const SIM_MONITOR = MONITOR;

/** A boot nonce from the seed, so that simulations stay reproducible. */
function seededNonce(seed: number): Uint8Array {
  const nonce = new Uint8Array(NONCE_BYTES);
  let s = seed ^ 0x6e6f6e63;
  for (let i = 0; i < NONCE_BYTES; i++) {
    const r = nextRandom(s);
    s = r.seed;
    nonce[i] = Math.floor(r.value * 256);
  }
  return nonce;
}

function macOf(i: number): string {
  return `02:00:00:00:00:${(10 + i).toString(16).padStart(2, '0')}`;
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlain(b) && isPlain(v) ? mergeDeep(b, v) : v;
  }
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
