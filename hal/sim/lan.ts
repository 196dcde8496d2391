import type { VirtualClock } from '../clock/sim.js';
import type { ConflictReport } from '../nic/index.js';
import type { EchoReply } from '../icmp/index.js';
import { nextRandom } from '../base/random.js';

/** The address part of `198.18.0.10/24`. */
export function ipOf(address: string): string {
  return address.split('/')[0] ?? address;
}

/**
 * One simulated server as the network and its BMC see it: power, cable, the addresses its
 * kernel holds, and whether its agent is frozen. Survives power cycles; the agent does not.
 */
export class SimHost {
  powered = true;
  /** The cable. A cut link is down even while the host is powered. */
  cable = true;
  /**
   * The switch port's admin state, shut by an isolation device (hal/isolation/sim.ts). Kept
   * apart from the cable, as on a real switch: plugging a cut cable back in does not undo
   * a fence that shut the port.
   */
  portEnabled = true;
  hung = false;
  /**
   * The switch port drops everything both ways while the link stays up: the host's agent
   * sees no link change, and nobody hears it (a frozen switch port, a VLAN mistake).
   */
  silent = false;
  /**
   * Its kernel answers no echo request while everything else flows (echo replies lost on
   * the way, a firewall rule): what a monitor's false alarm looks like to the rest.
   */
  echoMuted = false;
  /** Test controls: the NIC driver's assign or release fails, as a broken netlink would. */
  failAssign = false;
  failRelease = false;
  /**
   * The management LAN port (a second network: BMCs, the servers' second interface). Cut
   * separately from `cable`; only peer heartbeats on the `mgmt` path use it.
   */
  mgmtUp = true;
  /** Bumped at every power-on; drivers of an older life are deaf and mute. */
  life = 0;
  readonly addresses = new Map<string, number>(); // ip -> virtual time assigned
  readonly arp = new Map<string, string>(); // ip -> mac
  icmpListener: ((reply: EchoReply) => void) | null = null;
  readonly linkListeners: Array<(up: boolean) => void> = [];
  private readonly frozen: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly mac: string,
  ) {}

  get linkUp(): boolean {
    return this.powered && this.cable && this.portEnabled;
  }

  /** Connected: the link is up and the switch port passes traffic. */
  get onWire(): boolean {
    return this.linkUp && !this.silent;
  }

  /** Connected to the management LAN: powered and its management port passes traffic. */
  get onMgmt(): boolean {
    return this.powered && this.mgmtUp;
  }

  /** Runs `fn` in the agent of `life`: dropped if that life ended, queued while hung. */
  deliver(life: number, fn: () => void): void {
    if (life !== this.life || !this.powered) return;
    if (this.hung) this.frozen.push(() => life === this.life && this.powered && fn());
    else fn();
  }

  freeze(): void {
    this.hung = true;
  }

  thaw(): void {
    this.hung = false;
    for (const fn of this.frozen.splice(0)) fn();
  }

  /** Power loss: the kernel's state is gone; what is on disk stays (see SimStore). */
  powerOff(): void {
    this.powered = false;
    this.hung = false;
    this.frozen.length = 0;
    this.addresses.clear();
    this.arp.clear();
    this.icmpListener = null;
    this.linkListeners.length = 0;
    this.life += 1;
  }

  powerOn(): void {
    this.powered = true;
    this.life += 1;
  }

  setCable(up: boolean): void {
    this.changeLink(() => (this.cable = up));
  }

  setPortEnabled(up: boolean): void {
    this.changeLink(() => (this.portEnabled = up));
  }

  /** Applies a cable or port change and tells the agent when its link went up or down. */
  private changeLink(apply: () => void): void {
    const before = this.cable && this.portEnabled;
    apply();
    const after = this.cable && this.portEnabled;
    if (before === after || !this.powered) return;
    const life = this.life;
    for (const listener of [...this.linkListeners]) this.deliver(life, () => listener(after));
  }
}

interface Probing {
  host: SimHost;
  ip: string;
  startUs: number;
  endUs: number;
}

/**
 * The shared simulated LAN: ICMP echo with latency and loss, ARP caches and RFC 5227
 * address probing. All timing is virtual.
 */
export class SimLan {
  readonly hosts = new Map<string, SimHost>();
  private readonly probings: Probing[] = [];
  /** Watches in flight (`watch`): they also hear announcements and other hosts' probes at once. */
  private readonly watchers = new Set<{ from: SimHost; ip: string; hear: (evidence: string) => void }>();
  private rng: number;
  lossRate = 0;
  /**
   * The LAN's gateway (the uplink host agents may be told to hear before claiming or
   * fencing): it answers ARP for its address to every host on the wire. null: none.
   */
  uplink: { ip: string; mac: string } | null = null;

  constructor(
    readonly clock: VirtualClock,
    readonly latencyUs = 50,
    seed = 1,
  ) {
    this.rng = seed >>> 0;
  }

  addHost(name: string, mac: string): SimHost {
    const host = new SimHost(name, mac.toLowerCase());
    this.hosts.set(name, host);
    return host;
  }

  /** Connected hosts whose kernel holds `ip`, most recently assigned first. */
  holders(ip: string, except?: SimHost): SimHost[] {
    return [...this.hosts.values()]
      .filter((h) => h !== except && h.onWire && h.addresses.has(ip))
      .sort((a, b) => (b.addresses.get(ip) ?? 0) - (a.addresses.get(ip) ?? 0));
  }

  private lost(): boolean {
    if (this.lossRate <= 0) return false;
    const { value, seed } = nextRandom(this.rng);
    this.rng = seed;
    return value < this.lossRate;
  }

  /** An echo request from `from`; the kernel of the host that ARP resolves to answers. */
  echo(from: SimHost, target: string, identifier: number, sequence: number): void {
    if (!from.onWire) return;
    if (this.uplink?.ip === target) return this.echoFromUplink(from, target, identifier, sequence);
    const holder = this.holders(target, from)[0];
    if (holder === undefined || holder.echoMuted || this.lost() || this.lost()) return;
    const life = from.life;
    this.clock.at(this.clock.nowUs() + 2 * this.latencyUs, () => {
      // The reply arrives only if both ends are still on the wire.
      if (!from.onWire || !holder.onWire || !holder.addresses.has(target)) return;
      from.arp.set(target, holder.mac);
      const reply: EchoReply = { from: target, identifier, sequence, receivedUs: this.clock.nowUs() };
      from.deliver(life, () => from.icmpListener?.(reply));
    });
  }

  /** The gateway answers echo requests from every host on the wire. */
  private echoFromUplink(from: SimHost, target: string, identifier: number, sequence: number): void {
    if (this.lost() || this.lost()) return;
    const life = from.life;
    this.clock.at(this.clock.nowUs() + 2 * this.latencyUs, () => {
      if (!from.onWire) return;
      const reply: EchoReply = { from: target, identifier, sequence, receivedUs: this.clock.nowUs() };
      from.deliver(life, () => from.icmpListener?.(reply));
    });
  }

  /**
   * RFC 5227 probing for `windowUs`: taken if another connected host holds the address, or
   * probes for it during an overlapping window (then both sides see a conflict).
   */
  probe(from: SimHost, ip: string, windowUs: number): Promise<ConflictReport> {
    const startUs = this.clock.nowUs();
    this.tellWatchers(from, ip, `arp-probe ${from.mac}`);
    const mine: Probing = { host: from, ip, startUs, endUs: startUs + windowUs };
    this.probings.push(mine);
    return new Promise((resolve) => {
      const life = from.life;
      this.clock.at(mine.endUs, () => {
        const evidence: string[] = [];
        // A host behind a silent port hears nobody, and nobody hears it.
        if (from.onWire) for (const h of this.holders(ip, from)) evidence.push(`arp-reply ${h.mac}`);
        const held = evidence.length > 0;
        for (const p of this.probings) {
          if (p === mine || p.host === from || p.ip !== ip || !p.host.onWire || !from.onWire) continue;
          if (p.startUs <= mine.endUs && mine.startUs <= p.endUs) evidence.push(`arp-probe ${p.host.mac}`);
        }
        this.forgetProbings(startUs - 10 * windowUs);
        from.deliver(life, () => resolve(conflictReport(from, ip, held, evidence)));
      });
    });
  }

  /**
   * A watch of `ip` from `from` (`Nic.watchConflict`): at once and every `everyUs` until
   * `limitUs` or `end()`, each connected holder is reported (`arp-reply MAC`), as a probe
   * would hear it then; between those, another host's probe (`arp-probe MAC`) or gratuitous
   * ARP (`arp-reply MAC`) for `ip` at once, as the real tool hears them. A host behind a
   * silent port hears nobody. Its own probes are heard as the real tool's are: another host's
   * check that overlaps the watch reports `arp-probe` of this host (contended).
   */
  watch(
    from: SimHost,
    ip: string,
    everyUs: number,
    limitUs: number,
    onSeen: (evidence: string) => void,
  ): { end(): void; ended: Promise<void> } {
    const life = from.life;
    const endUs = this.clock.nowUs() + limitUs;
    let done = false;
    let finish: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (finish = resolve));
    // What the real tool hears between its probes: another host's probe or gratuitous ARP.
    const watcher = { from, ip, hear: (evidence: string) => from.deliver(life, () => done || onSeen(evidence)) };
    this.watchers.add(watcher);
    // Its probes: another host's check that overlaps the watch hears a prober (contended).
    this.tellWatchers(from, ip, `arp-probe ${from.mac}`);
    const mine: Probing = { host: from, ip, startUs: this.clock.nowUs(), endUs };
    this.probings.push(mine);
    const stop = (): void => {
      if (done) return;
      done = true;
      mine.endUs = Math.min(mine.endUs, this.clock.nowUs());
      this.watchers.delete(watcher);
      finish();
    };
    const tick = (): void => {
      if (done) return;
      if (from.onWire)
        for (const h of this.holders(ip, from)) from.deliver(life, () => done || onSeen(`arp-reply ${h.mac}`));
      const next = this.clock.nowUs() + Math.max(1, everyUs);
      if (next > endUs) return stop();
      this.clock.at(next, tick);
    };
    this.clock.at(this.clock.nowUs(), tick);
    return { end: stop, ended };
  }

  /** Gratuitous ARP: every connected host's cache now points `ip` at `from`. */
  announce(from: SimHost, ip: string): void {
    if (!from.onWire) return;
    this.tellWatchers(from, ip, `arp-reply ${from.mac}`);
    for (const h of this.hosts.values()) if (h !== from && h.onWire) h.arp.set(ip, from.mac);
  }

  /** A packet about `ip` from `sender` reaches every watch of `ip` on a connected host but its own. */
  private tellWatchers(sender: SimHost, ip: string, evidence: string): void {
    if (!sender.onWire) return;
    for (const w of this.watchers) if (w.ip === ip && w.from !== sender && w.from.onWire) w.hear(evidence);
  }

  private forgetProbings(beforeUs: number): void {
    for (let i = this.probings.length - 1; i >= 0; i--) {
      const p = this.probings[i];
      if (p !== undefined && p.endUs < beforeUs) this.probings.splice(i, 1);
    }
  }
}

/**
 * What a probe of `ip` from `from` reports, given whether a connected holder replied and all
 * it heard: its own link down makes every address taken; probers only are contended (RFC 5227),
 * unless `from` holds the address (its kernel answers them, so they hear it taken).
 */
function conflictReport(from: SimHost, ip: string, held: boolean, evidence: string[]): ConflictReport {
  if (!from.linkUp) return { taken: true, evidence: ['own link down'] };
  if (held || evidence.length === 0) return { taken: held, evidence };
  if (from.addresses.has(ip)) return { taken: false, evidence };
  return { taken: true, contended: true, evidence };
}
