/**
 * The LAN interface on Linux, driven with iproute2, the `hotspare-arp` tool and iputils
 * arping. Its parts: addresses through one long-lived `ip -batch` child (ip-batch.ts); the
 * link from sysfs and `ip monitor` (link-monitor.ts); conflict checks by ICMP echo and ARP
 * probing (conflict-check.ts); gratuitous ARP (announce.ts, or a line to the helper); the
 * children it starts (processes.ts).
 *
 * The `hotspare-arp` tool runs as one long-lived `hotspare-arp serve IF` child per NIC (see
 * ArpHelper), started at open, so a probe or an announcement costs a line on a pipe, not a
 * process. It is killed by close(), restarted when it dies (requests in flight then fail with
 * NicError), and while it cannot start (retried every HELPER_RETRY_MS) each call spawns
 * `hotspare-arp probe|announce`. What each way costs is measured in README ("Benchmarks").
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../clock/index.js';
import type { IcmpEcho } from '../icmp/index.js';
import type { ConflictReport, ConflictWatch, Nic } from './index.js';
import { arpingAnnounce, toolAnnounce } from './announce.js';
import { ArpHelper } from './arp-helper.js';
import { arpingProbe, EchoProbe, helperProbe, processProbe, type ProbeSite } from './conflict-check.js';
import { isMac, parseIpv4, type Ipv4 } from './address.js';
import { IpBatch, parseAddressShow, type HeldAddress, type InterfaceState } from './ip-batch.js';
import { LinkMonitor, readLinkState, sysPath } from './link-monitor.js';
import { Children, describe, onPath, realtimePrefix } from './processes.js';
import { loadNetlink, type NetlinkBinding } from './netlink.js';
import { NicError } from '../errors/nic-error.js';

export interface LinuxNicOptions {
  /** Interface name, e.g. `eth0`. */
  interface: string;
  /** Shared ICMP socket, used by `detectConflict`. */
  icmp: IcmpEcho;
  clock: Clock;
  /** ICMP identifier of this NIC's conflict probes; default: one from `icmp`, which allocates them. */
  identifier?: number;
  /**
   * The `hotspare-arp` tool (hal/nic/hotspare-arp.c, built by `make` into dist/bin): RFC 5227
   * probing that also sees other hosts probing at the same time, and gratuitous ARP without
   * arping's whole-second intervals. Default: dist/bin/hotspare-arp if built; null: arping.
   */
  arpTool?: string | null;
  /**
   * Run the tool as one long-lived helper (`hotspare-arp serve`) instead of a process per
   * probe or announcement. Default true; false: a process per call.
   */
  arpHelper?: boolean;
  /**
   * The agent's SCHED_FIFO priority (`clock.realtime`; 0 or absent: none). The two long-lived
   * children, `ip -batch` and the ARP helper, then run at it (through `chrt -f`, when a trial
   * run succeeds at open): a takeover's assignment and first gratuitous ARP then do not wait
   * for the CPU behind the machine's normal-priority load (README "Benchmarks").
   */
  realtime?: number;
  /**
   * Adds addresses with one rtnetlink request from the agent's thread (hal/nic/netlink.ts).
   * Default: dist/bin/hotspare-netlink.node if it loads; null: through `ip -batch`.
   */
  netlink?: NetlinkBinding | null;
}

/** dist/bin/hotspare-arp, found from this compiled module (dist/hal/nic/linux.js). */
export const DEFAULT_ARP_TOOL = fileURLToPath(new URL('../../bin/hotspare-arp', import.meta.url));

const CHILD_KILL_GRACE_MS = 2000;
/** The helper's `ready` (its packet socket open) may take this long, a spawn under load. */
const HELPER_READY_TIMEOUT_MS = 3000;
/** How late past its window a helper answer may be before the helper counts as stuck. */
const HELPER_MARGIN_MS = 1000;
/** After the helper failed to start, or died young, calls spawn processes this long. */
const HELPER_RETRY_MS = 5000;
/** A helper that ran at least this long before it died is restarted at once. */
const HELPER_MIN_LIFE_MS = 1000;
const ATF_COM = 0x2;

export class LinuxNic implements Nic {
  private readonly children: Children;
  private readonly batch: IpBatch;
  private readonly link: LinkMonitor;
  private readonly echo: EchoProbe;
  private readonly site: ProbeSite;
  private closing: Promise<void> | null = null;
  private helper: ArpHelper | null = null;
  private helperStarting: Promise<ArpHelper | null> | null = null;
  private helperRetryAtUs = 0;

  private constructor(
    readonly name: string,
    readonly mac: string,
    icmp: IcmpEcho,
    private readonly clock: Clock,
    identifier: number,
    private readonly stdbuf: boolean,
    private readonly arpTool: string | null,
    private readonly useHelper: boolean,
    private readonly prefix: readonly string[],
    private readonly netlink: NetlinkBinding | null,
  ) {
    this.children = new Children(name);
    this.batch = new IpBatch((child) => this.children.track(child), prefix);
    this.link = new LinkMonitor(name, this.children);
    this.site = { name, mac, clock, children: this.children };
    this.echo = new EchoProbe(this.site, icmp, identifier);
  }

  /** The SCHED_FIFO priority its long-lived children run at; 0: the normal scheduler. */
  get childPriority(): number {
    return Number(this.prefix[2] ?? 0);
  }

  /** How `assign` adds an address: by rtnetlink from this thread, or through `ip -batch`. */
  get assignsBy(): 'netlink' | 'ip -batch' {
    return this.netlink === null ? 'ip -batch' : 'netlink';
  }

  /** ICMP identifier of this NIC's conflict checks. */
  get identifier(): number {
    return this.echo.identifier;
  }

  /** Opens the interface; rejects with `NicError` when it does not exist. */
  static async open(options: LinuxNicOptions): Promise<LinuxNic> {
    const name = options.interface;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name) || name === '.' || name === '..') {
      throw new NicError(name, 'open', 'invalid interface name');
    }
    const identifier = options.identifier ?? options.icmp.newIdentifier();
    if (!Number.isInteger(identifier) || identifier < 0 || identifier > 0xffff) {
      throw new NicError(name, 'open', `invalid ICMP identifier ${identifier}`);
    }
    let mac: string;
    try {
      mac = (await readFile(sysPath(name, 'address'), 'utf8')).trim().toLowerCase();
    } catch (error) {
      throw new NicError(name, 'open', `no such interface (${describe(error)})`, '', { cause: error });
    }
    const arpTool =
      options.arpTool === undefined ? (existsSync(DEFAULT_ARP_TOOL) ? DEFAULT_ARP_TOOL : null) : options.arpTool;
    const nic = new LinuxNic(
      name,
      mac,
      options.icmp,
      options.clock,
      identifier,
      onPath('stdbuf'),
      arpTool,
      options.arpHelper ?? true,
      await realtimePrefix(options.realtime ?? 0),
      options.netlink === undefined ? defaultNetlink() : options.netlink,
    );
    // Started now, not at the first check: the failover's first probe must not wait for it.
    void nic.arpHelper();
    return nic;
  }

  async assign(address: string): Promise<void> {
    const { ip, prefix } = this.parse('assign', address, true);
    if (this.netlink !== null && prefix !== null) {
      // The kernel's acknowledgement says the address is held: no `address show` after it.
      const refused = this.netlink.add(this.name, ip, prefix);
      if (refused !== '') throw new NicError(this.name, 'assign', `netlink refused: ${refused}`, address);
      return;
    }
    const held = await this.addresses('assign', address, [`address add ${ip}/${prefix} dev ${this.name}`]);
    if (!held.state.some((a) => a.ip === ip && a.prefix === prefix)) {
      throw new NicError(
        this.name,
        'assign',
        `not held after assigning: ${held.stderr || 'no error reported'}`,
        address,
      );
    }
  }

  async release(address: string): Promise<void> {
    const { ip } = this.parse('release', address, true);
    // Remove the address whatever prefix length it is held with, so `holds` is false after.
    const current = await this.addresses('release', address, []);
    const deletions = current.state
      .filter((a) => a.ip === ip)
      .map((a) => `address del ${a.ip}/${a.prefix} dev ${this.name}`);
    if (deletions.length === 0) {
      return;
    }
    const after = await this.addresses('release', address, deletions);
    if (after.state.some((a) => a.ip === ip)) {
      throw new NicError(
        this.name,
        'release',
        `still held after releasing: ${after.stderr || 'no error reported'}`,
        address,
      );
    }
  }

  /** True when the interface holds the IP (with any prefix length). */
  async holds(address: string): Promise<boolean> {
    const { ip } = this.parse('holds', address, false);
    const held = await this.addresses('holds', address, []);
    return held.state.some((a) => a.ip === ip);
  }

  async announce(address: string, count: number, intervalMs: number): Promise<void> {
    const { ip } = this.parse('announce', address, false);
    if (!Number.isInteger(count) || count < 0 || !(intervalMs >= 0)) {
      throw new NicError(this.name, 'announce', `invalid count ${count} or interval ${intervalMs} ms`, address);
    }
    if (count === 0) {
      return;
    }
    // The helper reads whether the address is held just before each announcement it sends
    // (hotspare-arp.c): no `ip` round trip here, on the takeover's path to its first one.
    const helper = await this.arpHelper();
    if (helper !== null) {
      try {
        await helper.announce(ip, count, Math.round(intervalMs));
      } catch (error) {
        const text = describe(error);
        const notHeld = /address not held \(sent (\d+)\)/.exec(text);
        throw new NicError(
          this.name,
          'announce',
          notHeld !== null
            ? `address not held (${notHeld[1]} of ${count} gratuitous ARP sent)`
            : `gratuitous ARP not sent: ${text}`,
          address,
          { cause: error },
        );
      }
      return;
    }
    if (!(await this.holds(address))) {
      throw new NicError(this.name, 'announce', 'address not held', address);
    }
    if (this.arpTool !== null) {
      return toolAnnounce(this.site, this.arpTool, ip, address, count, intervalMs);
    }
    return arpingAnnounce(this.site, this.stdbuf, ip, address, count, intervalMs);
  }

  async detectConflict(address: string, windowMs: number): Promise<ConflictReport> {
    const { ip } = this.parse('detect-conflict', address, false);
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) {
      throw new NicError(this.name, 'detect-conflict', `invalid window ${windowMs} ms`, address);
    }
    if (!(await this.linkUp())) {
      return { taken: true, evidence: ['own link down'] };
    }
    const deadlineUs = this.clock.nowUs() + windowMs * 1000;
    // ARP probing starts at once; it does not depend on the address check below.
    const arp = this.arpProbe(ip, address, deadlineUs, windowMs);
    // Awaited below; this only keeps a failure meanwhile from counting as unhandled.
    arp.catch(() => undefined);
    // An address held anywhere on this host answers our own echo through loopback.
    const local = await this.heldOnHost('detect-conflict', address, ip);
    const [icmpReply, arpEvidence] = await Promise.all([
      local ? Promise.resolve(false) : this.echo.answered(ip, address, deadlineUs, windowMs),
      arp,
    ]);
    if (!(await this.linkUp())) {
      return { taken: true, evidence: ['own link down'] };
    }
    const evidence = [...(icmpReply ? ['icmp-reply'] : []), ...arpEvidence];
    // Contended: another host probes for the address right now and nobody uses it (RFC 5227).
    // When this host holds it, a prober is no conflict: our kernel answers it, and the prober
    // (another server's check, a monitor's watch) hears the address taken.
    const probesOnly = evidence.length > 0 && evidence.every((e) => e.startsWith('arp-probe'));
    if (probesOnly && local) return { taken: false, evidence };
    return probesOnly ? { taken: true, contended: true, evidence } : { taken: evidence.length > 0, evidence };
  }

  /**
   * A watch through the helper; null when there is none and none can start now (no process
   * per watch). While the helper is starting (the agent's first check starts it) the watch
   * begins once it is ready, within the same limit counted from now: a boot check's watch
   * must not be missing just because it is the first. A helper that cannot start fails it.
   */
  watchConflict(
    address: string,
    intervalMs: number,
    limitMs: number,
    onSeen: (evidence: string) => void,
  ): ConflictWatch | null {
    const { ip } = this.parse('watch-conflict', address, false);
    const interval = Math.max(1, Math.round(intervalMs));
    const heard = (seen: string): void => {
      if (!seen.endsWith(` ${this.mac}`)) onSeen(seen);
    };
    const running = this.helper;
    if (running !== null && running.alive && !this.children.closed) {
      const watch = running.watch(ip, interval, Math.max(1, Math.round(limitMs)), heard);
      return { end: () => watch.end(), ended: watch.ended };
    }
    if (this.arpTool === null || !this.useHelper || this.children.closed) return null;
    if (this.helperStarting === null && this.clock.nowUs() < this.helperRetryAtUs) return null;
    const untilUs = this.clock.nowUs() + limitMs * 1000;
    let endAsked = false;
    let watch: { end(): void } | null = null;
    const ended = this.arpHelper().then((helper) => {
      if (helper === null) throw new NicError(this.name, 'watch-conflict', 'the ARP helper could not start', address);
      const leftMs = Math.round((untilUs - this.clock.nowUs()) / 1000);
      if (endAsked || leftMs < 1) return;
      const started = helper.watch(ip, interval, leftMs, heard);
      watch = started;
      return started.ended;
    });
    ended.catch(() => undefined);
    return {
      end: () => {
        endAsked = true;
        watch?.end();
      },
      ended,
    };
  }

  async neighborMac(address: string): Promise<string | null> {
    const { ip } = this.parse('neighbor-mac', address, false);
    let table: string;
    try {
      table = await readFile('/proc/net/arp', 'utf8');
    } catch (error) {
      throw new NicError(this.name, 'neighbor-mac', `cannot read /proc/net/arp: ${describe(error)}`, address, {
        cause: error,
      });
    }
    for (const line of table.split('\n').slice(1)) {
      const [entryIp, , flags, mac, , device] = line.trim().split(/\s+/);
      if (entryIp !== ip || device !== this.name || flags === undefined || mac === undefined) {
        continue;
      }
      if ((Number.parseInt(flags, 16) & ATF_COM) !== 0 && mac !== '00:00:00:00:00:00') {
        return mac.toLowerCase();
      }
    }
    return null;
  }

  async setNeighbor(address: string, mac: string): Promise<void> {
    const { ip } = this.parse('set-neighbor', address, false);
    if (!isMac(mac)) throw new NicError(this.name, 'set-neighbor', `invalid MAC ${JSON.stringify(mac)}`, address);
    // Through the kept `ip -batch`: no process start on the monitor's detection path.
    const answer = await this.show('set-neighbor', address, [
      `neighbor replace ${ip} lladdr ${mac.toLowerCase()} dev ${this.name} nud reachable`,
      `address show dev ${this.name}`,
    ]);
    if (answer.stderr !== '') throw new NicError(this.name, 'set-neighbor', answer.stderr, address);
  }

  async linkUp(): Promise<boolean> {
    try {
      return readLinkState(this.name);
    } catch (error) {
      throw new NicError(this.name, 'link-up', `cannot read link state: ${describe(error)}`, '', { cause: error });
    }
  }

  onLink(listener: (up: boolean) => void): void {
    this.link.onLink(listener);
  }

  /** Stops every child this NIC started and resolves when all have exited. Idempotent. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.echo.close();
      this.link.close();
      // The helper is one of the children: SIGTERM below, by PID; what it had in flight fails.
      this.helper = null;
      this.batch.close();
      this.closing = this.children.close(this.batch.child, CHILD_KILL_GRACE_MS);
    }
    return this.closing;
  }

  // --- addresses -------------------------------------------------------------------------

  private parse(operation: string, address: string, needPrefix: boolean): Ipv4 {
    if (this.children.closed) {
      throw new NicError(this.name, operation, 'closed', address);
    }
    const parsed = parseIpv4(address);
    if (parsed === null || (needPrefix && parsed.prefix === null)) {
      throw new NicError(
        this.name,
        operation,
        `invalid address (want a.b.c.d${needPrefix ? '/len' : '[/len]'})`,
        address,
      );
    }
    return parsed;
  }

  /** Runs `commands` in the batch child, then returns the IPv4 addresses the interface holds. */
  private async addresses(
    operation: string,
    address: string,
    commands: string[],
  ): Promise<{ state: HeldAddress[]; stderr: string }> {
    const answer = await this.show(operation, address, [...commands, `address show dev ${this.name}`]);
    const link = answer.interfaces.find((entry) => entry.name === this.name);
    if (link === undefined) {
      throw new NicError(
        this.name,
        operation,
        `interface not found${answer.stderr === '' ? '' : `: ${answer.stderr}`}`,
        address,
      );
    }
    return { state: link.addresses, stderr: answer.stderr };
  }

  private async heldOnHost(operation: string, address: string, ip: string): Promise<boolean> {
    const answer = await this.show(operation, address, ['address show']);
    return answer.interfaces.some((entry) => entry.addresses.some((a) => a.ip === ip));
  }

  /** Runs commands ending with an `address show`; an answer that does not parse is an error. */
  private async show(
    operation: string,
    address: string,
    commands: string[],
  ): Promise<{ interfaces: InterfaceState[]; stderr: string }> {
    let answer: { output: unknown; stderr: string };
    try {
      answer = await this.batch.run(commands);
    } catch (error) {
      throw new NicError(this.name, operation, describe(error), address, { cause: error });
    }
    const interfaces = parseAddressShow(answer.output);
    if (interfaces === null) {
      // Never read a garbled answer as "no addresses": start a fresh ip next time.
      this.batch.restart();
      throw new NicError(this.name, operation, 'unexpected output from ip -json address show', address);
    }
    return { interfaces, stderr: answer.stderr };
  }

  // --- ARP -------------------------------------------------------------------------------

  /** ARP evidence over the window: by the tool (helper or process), else by `arping -D`. */
  private async arpProbe(ip: string, address: string, deadlineUs: number, windowMs: number): Promise<string[]> {
    if (this.arpTool === null) return arpingProbe(this.site, ip, address, deadlineUs, windowMs);
    const windowArg = Math.max(1, Math.round(windowMs));
    const helper = await this.arpHelper();
    return helper !== null
      ? helperProbe(this.site, helper, ip, address, windowArg)
      : processProbe(this.site, this.arpTool, ip, address, windowArg);
  }

  /**
   * The running helper, started when there is none; null when calls spawn a process each: no
   * helper wanted, the NIC closed, or it could not start lately (retried after HELPER_RETRY_MS).
   */
  private arpHelper(): Promise<ArpHelper | null> {
    if (this.arpTool === null || !this.useHelper || this.children.closed) {
      return Promise.resolve(null);
    }
    if (this.helper?.alive === true) {
      return Promise.resolve(this.helper);
    }
    if (this.helperStarting !== null) {
      return this.helperStarting;
    }
    if (this.clock.nowUs() < this.helperRetryAtUs) {
      return Promise.resolve(null);
    }
    const startedUs = this.clock.nowUs();
    const starting = ArpHelper.start({
      tool: this.arpTool,
      interface: this.name,
      readyTimeoutMs: HELPER_READY_TIMEOUT_MS,
      marginMs: HELPER_MARGIN_MS,
      track: (child) => this.children.track(child),
      prefix: this.prefix,
    }).then(
      (helper) => {
        this.helperStarting = null;
        if (this.children.closed) {
          helper.stop();
          return null;
        }
        this.helper = helper;
        helper.onExit(() => this.helperExited(helper, startedUs));
        return helper;
      },
      () => {
        // Cannot start (no tool, no CAP_NET_RAW, no interface): a process per call for now.
        this.helperStarting = null;
        this.helperRetryAtUs = this.clock.nowUs() + HELPER_RETRY_MS * 1000;
        return null;
      },
    );
    this.helperStarting = starting;
    return starting;
  }

  /** The helper died: start the next one now, unless it died young (then calls spawn a while). */
  private helperExited(helper: ArpHelper, startedUs: number): void {
    if (this.helper !== helper || this.children.closed) {
      return;
    }
    this.helper = null;
    if (this.clock.nowUs() - startedUs < HELPER_MIN_LIFE_MS * 1000) {
      this.helperRetryAtUs = this.clock.nowUs() + HELPER_RETRY_MS * 1000;
      return;
    }
    void this.arpHelper();
  }
}

/** The netlink addon when it loads; else null (assignments go through `ip -batch`). */
function defaultNetlink(): NetlinkBinding | null {
  const loaded = loadNetlink();
  return typeof loaded === 'string' ? null : loaded;
}
