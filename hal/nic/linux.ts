/**
 * The LAN interface on Linux, driven with iproute2 and iputils arping.
 *
 * - Addresses: one long-lived `ip -json -force -batch -` child per NIC (see IpBatch). Each
 *   request writes its command lines followed by `address show dev IF`, and success is judged
 *   on that real state, since batch mode does not report per-line success. No fork/exec per
 *   request (a spawned `ip -j address show` costs ~4-25 ms here).
 * - Gratuitous ARP: iputils arping (20221126) takes only whole seconds for -i/-w, so each
 *   announcement is one `arping -U -c 1` (see gratuitousArp), `intervalMs` apart.
 * - Conflict detection: ICMP echoes through the shared IcmpEcho (skipped when this host holds
 *   the address itself: the echo would come back over loopback) and ARP probing. With the
 *   `hotspare-arp` tool (hal/nic/hotspare-arp.c, an AF_PACKET socket, which Node cannot
 *   open) the probing is RFC 5227: it also hears another host probing for the same address
 *   at the same time, reported as `contended`. Without it, `arping -D` probes, which hear
 *   only hosts that use the address. Gratuitous ARP likewise goes through the tool or,
 *   without it, one `arping -U` per announcement.
 * - The tool runs as one long-lived `hotspare-arp serve IF` child per NIC (see ArpHelper),
 *   started at open, so a probe or an announcement costs a line on a pipe, not a process
 *   (a spawn is ~10-15 ms idle, tens of ms under load). It is killed by close(), restarted
 *   when it dies (requests in flight then fail with NicError), and while it cannot start
 *   (retried every HELPER_RETRY_MS) each call spawns `hotspare-arp probe|announce` as before.
 * - Neighbours: /proc/net/arp (of this network namespace); link: /sys/class/net/IF and one
 *   long-lived `ip -o monitor link dev IF` child.
 *
 * MEASURED (veth between two network namespaces, 2-vCPU VM under load, test/hal/linux-nic):
 * assign 0.5-3 ms (median 0.6), release 1-6 ms (median 2), holds ~0.4 ms, the first request
 * ~25 ms (starts ip); announce ~25-60 ms per gratuitous ARP (spawning stdbuf+arping), 3 at
 * 100 ms intervals ~240 ms (arping); detectConflict with a 500 ms window: ~515 ms when free,
 * ~370 ms when a live host answers.
 * With the hotspare-arp helper (n=40, 2 vCPUs shared): detectConflict with a 10 ms window
 * takes 10 ms + 1.1 ms median (p95 +2.0), also with the other core busy; a process per call
 * takes +8.5 ms (p95 +9.6) idle, +13.4 ms (p95 +16.5) busy. announce(3, 10 ms): first packet
 * at the peer 0.9 ms after the call (p95 1.3-1.6; a process per call: 7.3 ms idle, 10.7 busy).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../clock/index.js';
import { nextSequence } from '../icmp/identifiers.js';
import type { EchoReply, IcmpEcho } from '../icmp/index.js';
import type { ConflictReport, Nic } from './index.js';
import { ArpHelper } from './arp-helper.js';
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
}

/** dist/bin/hotspare-arp, found from this compiled module (dist/hal/nic/linux.js). */
export const DEFAULT_ARP_TOOL = fileURLToPath(new URL('../../bin/hotspare-arp', import.meta.url));

interface Ipv4 {
  ip: string;
  /** null when the address was given without a prefix length. */
  prefix: number | null;
}

interface HeldAddress {
  ip: string;
  prefix: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const BATCH_TIMEOUT_MS = 5000;
const CHILD_KILL_GRACE_MS = 2000;
const ANNOUNCE_TIMEOUT_MS = 3000;
/** Waits between arping's banner and our SIGTERM, per attempt; null: let it end by itself. */
const ANNOUNCE_TERM_DELAYS_MS: ReadonlyArray<number | null> = [3, 15, 60, null];
const MONITOR_RESTART_MS = 1000;
const MONITOR_RESYNC_MS = 200;
const ICMP_ECHOES = 3;
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
  readonly identifier: number;
  private readonly batch: IpBatch;
  private readonly children = new Set<ChildProcessWithoutNullStreams>();
  private readonly replyWaiters = new Set<(reply: EchoReply) => void>();
  private readonly linkListeners: Array<(up: boolean) => void> = [];
  private monitor: ChildProcessWithoutNullStreams | null = null;
  private monitorTimers = new Set<NodeJS.Timeout>();
  private lastLinkUp: boolean | null = null;
  private sequence = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private helper: ArpHelper | null = null;
  private helperStarting: Promise<ArpHelper | null> | null = null;
  private helperRetryAtUs = 0;

  private constructor(
    readonly name: string,
    readonly mac: string,
    private readonly icmp: IcmpEcho,
    private readonly clock: Clock,
    identifier: number,
    private readonly stdbuf: boolean,
    private readonly arpTool: string | null,
    private readonly useHelper: boolean,
  ) {
    this.identifier = identifier;
    this.batch = new IpBatch((child) => this.track(child));
    icmp.onReply((reply) => {
      for (const waiter of [...this.replyWaiters]) {
        waiter(reply);
      }
    });
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
    );
    // Started now, not at the first check: the failover's first probe must not wait for it.
    void nic.arpHelper();
    return nic;
  }

  async assign(address: string): Promise<void> {
    const { ip, prefix } = this.parse('assign', address, true);
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
    if (!(await this.holds(address))) {
      throw new NicError(this.name, 'announce', 'address not held', address);
    }
    const helper = await this.arpHelper();
    if (helper !== null) {
      try {
        await helper.announce(ip, count, Math.round(intervalMs));
      } catch (error) {
        throw new NicError(this.name, 'announce', `gratuitous ARP not sent: ${describe(error)}`, address, {
          cause: error,
        });
      }
      return;
    }
    if (this.arpTool !== null) {
      const child = this.spawn('announce', address, this.arpTool, [
        'announce',
        this.name,
        ip,
        String(count),
        String(Math.round(intervalMs)),
      ]);
      const exit = await waitExit(child, count * intervalMs + ANNOUNCE_TIMEOUT_MS);
      if (exit.code !== 0 || !exit.stdout.includes(`sent ${count}`)) {
        throw new NicError(this.name, 'announce', `gratuitous ARP not sent: ${failureOf(exit)}`, address);
      }
      return;
    }
    const startUs = this.clock.nowUs();
    for (let i = 0; i < count; i += 1) {
      if (i > 0) {
        await this.until(startUs + i * intervalMs * 1000);
      }
      await this.gratuitousArp(ip, address);
    }
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
    const arp =
      this.arpTool !== null ? this.toolProbe(ip, address, windowMs) : this.arpProbe(ip, address, deadlineUs, windowMs);
    // Awaited below; this only keeps a failure meanwhile from counting as unhandled.
    arp.catch(() => undefined);
    // An address held anywhere on this host answers our own echo through loopback.
    const local = await this.heldOnHost('detect-conflict', address, ip);
    const [icmpReply, arpEvidence] = await Promise.all([
      local ? Promise.resolve(false) : this.echoProbe(ip, address, deadlineUs, windowMs),
      arp,
    ]);
    if (!(await this.linkUp())) {
      return { taken: true, evidence: ['own link down'] };
    }
    const evidence = [...(icmpReply ? ['icmp-reply'] : []), ...arpEvidence];
    // Contended: another host probes for the address right now and nobody uses it (RFC 5227).
    const contended = evidence.length > 0 && evidence.every((e) => e.startsWith('arp-probe'));
    return contended ? { taken: true, contended: true, evidence } : { taken: evidence.length > 0, evidence };
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

  async linkUp(): Promise<boolean> {
    try {
      return readLinkState(this.name);
    } catch (error) {
      throw new NicError(this.name, 'link-up', `cannot read link state: ${describe(error)}`, '', { cause: error });
    }
  }

  onLink(listener: (up: boolean) => void): void {
    this.linkListeners.push(listener);
    if (this.monitor === null && !this.closed) {
      this.startMonitor();
    }
  }

  /** Stops every child this NIC started and resolves when all have exited. Idempotent. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.closed = true;
      this.replyWaiters.clear();
      for (const timer of this.monitorTimers) {
        clearTimeout(timer);
      }
      this.monitorTimers.clear();
      this.monitor = null;
      // The helper is one of the children: SIGTERM below, by PID; what it had in flight fails.
      this.helper = null;
      this.batch.close();
      const exits = [...this.children].map((child) => {
        if (child !== this.batch.child) {
          child.kill('SIGTERM');
        }
        return waitExit(child, CHILD_KILL_GRACE_MS);
      });
      this.closing = Promise.all(exits).then(() => undefined);
    }
    return this.closing;
  }

  // --- addresses -------------------------------------------------------------------------

  private parse(operation: string, address: string, needPrefix: boolean): Ipv4 {
    if (this.closed) {
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

  /**
   * One gratuitous ARP. arping prints its banner, then blocks SIGTERM (read from a signalfd
   * instead), then sends. A SIGTERM that lands before the block kills it by signal, and then
   * nothing was sent; one handled after it ends arping normally with "Sent 1 probes". So: wait
   * a little after the banner, SIGTERM, and try again with a longer wait if it died of the
   * signal; the last attempt lets arping end on its own (1 s later).
   */
  private async gratuitousArp(ip: string, address: string): Promise<void> {
    const args = ['-U', '-c', '1', '-I', this.name, '-s', ip, ip];
    let last = '';
    for (const waitMs of this.stdbuf ? ANNOUNCE_TERM_DELAYS_MS : [null]) {
      const child = this.spawn(
        'announce',
        address,
        this.stdbuf ? 'stdbuf' : 'arping',
        this.stdbuf ? ['-o0', 'arping', ...args] : args,
      );
      const exited = waitExit(child, ANNOUNCE_TIMEOUT_MS);
      let timer: NodeJS.Timeout | null = null;
      if (waitMs !== null) {
        child.stdout.on('data', (chunk: Buffer) => {
          if (timer === null && chunk.toString('utf8').includes('ARPING')) {
            timer = setTimeout(() => child.kill('SIGTERM'), waitMs);
          }
        });
      }
      const exit = await exited;
      if (timer !== null) {
        clearTimeout(timer);
      }
      const sent = /Sent (\d+) probes/.exec(exit.stdout);
      if (sent !== null && Number(sent[1]) >= 1) {
        return;
      }
      last = failureOf(exit);
      if (exit.code !== null) {
        // arping ended by itself without sending: retrying will not help.
        break;
      }
    }
    throw new NicError(this.name, 'announce', `gratuitous ARP not sent: ${last}`, address);
  }

  /**
   * The running helper, started when there is none; null when calls spawn a process each: no
   * helper wanted, the NIC closed, or it could not start lately (retried after HELPER_RETRY_MS).
   */
  private arpHelper(): Promise<ArpHelper | null> {
    if (this.arpTool === null || !this.useHelper || this.closed) {
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
      track: (child) => this.track(child),
    }).then(
      (helper) => {
        this.helperStarting = null;
        if (this.closed) {
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
    if (this.helper !== helper || this.closed) {
      return;
    }
    this.helper = null;
    if (this.clock.nowUs() - startedUs < HELPER_MIN_LIFE_MS * 1000) {
      this.helperRetryAtUs = this.clock.nowUs() + HELPER_RETRY_MS * 1000;
      return;
    }
    void this.arpHelper();
  }

  /** One probe over the window by the helper, or by a `hotspare-arp probe` process. */
  private async toolProbe(ip: string, address: string, windowMs: number): Promise<string[]> {
    const windowArg = Math.max(1, Math.round(windowMs));
    const helper = await this.arpHelper();
    if (helper !== null) {
      let seen: string[];
      try {
        seen = await helper.probe(ip, windowArg);
      } catch (error) {
        // Closed while probing: we know nothing, and "nothing seen" must not read as free.
        if (this.closed) return ['nic closed'];
        throw new NicError(this.name, 'detect-conflict', describe(error), address, { cause: error });
      }
      return seen.filter((observation) => !observation.endsWith(` ${this.mac}`));
    }
    return this.processProbe(ip, address, windowArg);
  }

  /** One `hotspare-arp probe` process over the window; returns `arp-reply MAC` / `arp-probe MAC`. */
  private async processProbe(ip: string, address: string, windowMs: number): Promise<string[]> {
    const tool = this.arpTool ?? 'hotspare-arp';
    const child = this.spawn('detect-conflict', address, tool, ['probe', this.name, ip, String(windowMs)]);
    const exit = await waitExit(child, windowMs + CHILD_KILL_GRACE_MS);
    // Closed while probing: we know nothing, and "nothing seen" must not read as free.
    if (this.closed) return ['nic closed'];
    if (exit.code === null || exit.code > 2) {
      throw new NicError(this.name, 'detect-conflict', `hotspare-arp failed: ${failureOf(exit)}`, address);
    }
    const evidence: string[] = [];
    for (const match of exit.stdout.matchAll(/^(arp-reply|arp-probe) ([0-9a-f]{2}(?::[0-9a-f]{2}){5})$/gm)) {
      if (match[2] !== this.mac) evidence.push(`${match[1] ?? 'arp-reply'} ${match[2] ?? ''}`);
    }
    return evidence;
  }

  /** `arping -D` probes spread over the window; returns `arp-reply MAC` / `arp-request MAC`. */
  private async arpProbe(ip: string, address: string, deadlineUs: number, windowMs: number): Promise<string[]> {
    const probes = Math.min(3, Math.max(1, Math.floor(windowMs / 150)));
    const runs: Array<Promise<Exit>> = [];
    const cancels: Array<() => void> = [];
    const launch = (): void => {
      if (this.closed) {
        return;
      }
      const child = this.spawn('detect-conflict', address, 'arping', ['-D', '-c', '1', '-I', this.name, ip]);
      runs.push(waitExit(child, windowMs + CHILD_KILL_GRACE_MS));
      cancels.push(this.clock.at(deadlineUs, () => child.kill('SIGTERM')));
    };
    const startUs = this.clock.nowUs();
    const span = deadlineUs - startUs;
    launch();
    await Promise.all(
      Array.from({ length: probes - 1 }, (_, i) => this.until(startUs + ((i + 1) * span) / probes).then(launch)),
    );
    const exits = await Promise.all(runs);
    cancels.forEach((cancel) => cancel());
    const evidence = new Set<string>();
    for (const exit of exits) {
      if (exit.code !== null && exit.code > 1) {
        throw new NicError(this.name, 'detect-conflict', `arping failed: ${failureOf(exit)}`, address);
      }
      for (const match of exit.stdout.matchAll(
        /(?:Unicast|Broadcast) (reply|request) from (\S+) \[([0-9A-Fa-f:]+)\]/g,
      )) {
        const mac = (match[3] ?? '').toLowerCase();
        if (match[2] === ip && mac !== this.mac) {
          evidence.add(`arp-${match[1] ?? 'reply'} ${mac}`);
        }
      }
    }
    return [...evidence];
  }

  // --- ICMP ------------------------------------------------------------------------------

  /** Echoes to `ip` spread over the window; true when one of ours is answered by `ip`. */
  private echoProbe(ip: string, address: string, deadlineUs: number, windowMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const sent = new Set<number>();
      const timers: Array<() => void> = [];
      const finish = (answered: boolean, error?: unknown): void => {
        this.replyWaiters.delete(waiter);
        timers.forEach((cancel) => cancel());
        if (error === undefined) {
          resolve(answered);
        } else {
          reject(
            new NicError(this.name, 'detect-conflict', `ICMP echo failed: ${describe(error)}`, address, {
              cause: error,
            }),
          );
        }
      };
      const waiter = (reply: EchoReply): void => {
        if (reply.from === ip && reply.identifier === this.identifier && sent.has(reply.sequence)) {
          finish(true);
        }
      };
      const echo = (): void => {
        if (this.closed) {
          return;
        }
        this.sequence = nextSequence(this.sequence);
        sent.add(this.sequence);
        try {
          this.icmp.send({
            target: ip,
            identifier: this.identifier,
            sequence: this.sequence,
            replyWithinUs: deadlineUs - this.clock.nowUs(),
          });
        } catch (error) {
          finish(false, error);
        }
      };
      this.replyWaiters.add(waiter);
      const startUs = this.clock.nowUs();
      for (let i = 1; i < ICMP_ECHOES; i += 1) {
        timers.push(this.clock.at(startUs + (i * windowMs * 1000) / ICMP_ECHOES, echo));
      }
      timers.push(this.clock.at(deadlineUs, () => finish(false)));
      echo();
    });
  }

  // --- link ------------------------------------------------------------------------------

  private startMonitor(): void {
    const child = spawn('ip', ['-o', 'monitor', 'link', 'dev', this.name], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.monitor = child;
    this.track(child);
    child.stdin.end();
    child.on('error', () => undefined);
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const up = parseMonitorLine(line, this.name);
        if (up !== null) {
          this.reportLink(up);
        }
      }
    });
    child.on('close', () => {
      if (this.monitor === child && !this.closed) {
        // Died on its own: restart it, and catch up on what changed meanwhile.
        this.monitor = null;
        this.monitorTimer(MONITOR_RESTART_MS, () => this.startMonitor());
      }
    });
    // The first state comes from sysfs; the monitor subscribes a few ms after the spawn, so
    // read sysfs again once it surely listens, to catch a change made in between.
    this.resyncLink();
    this.monitorTimer(MONITOR_RESYNC_MS, () => this.resyncLink());
  }

  private monitorTimer(delayMs: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.monitorTimers.delete(timer);
      if (!this.closed) {
        fn();
      }
    }, delayMs);
    this.monitorTimers.add(timer);
  }

  private resyncLink(): void {
    let up: boolean;
    try {
      up = readLinkState(this.name);
    } catch {
      up = false;
    }
    this.reportLink(up);
  }

  private reportLink(up: boolean): void {
    if (this.closed) {
      return;
    }
    if (this.lastLinkUp === null) {
      this.lastLinkUp = up;
      return;
    }
    if (up === this.lastLinkUp) {
      return;
    }
    this.lastLinkUp = up;
    for (const listener of [...this.linkListeners]) {
      listener(up);
    }
  }

  // --- children --------------------------------------------------------------------------

  private spawn(operation: string, address: string, command: string, args: string[]): ChildProcessWithoutNullStreams {
    if (this.closed) {
      throw new NicError(this.name, operation, 'closed', address);
    }
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    this.track(child);
    return child;
  }

  private track(child: ChildProcessWithoutNullStreams): void {
    this.children.add(child);
    child.on('close', () => this.children.delete(child));
  }

  private until(deadlineUs: number): Promise<void> {
    return new Promise((resolve) => {
      this.clock.at(deadlineUs, resolve);
    });
  }
}

/**
 * The `ip -json -force -batch -` child. Requests run one at a time. Each request is a few
 * command lines of which only the last prints (an `address show`: one JSON line on stdout).
 * Batch mode reports a failed line only on stderr, as "Error: ..." then "Command failed -:N"
 * with N the line number, which we count: the request ends with the stdout line, or with the
 * failure of its last line. (A `link show` line must not be sent: it leaves ip's address
 * filter in a state where later `address show` lines print no `addr_info`.)
 */
class IpBatch {
  child: ChildProcessWithoutNullStreams | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private stdoutPending = '';
  private stderr = '';
  private linesWritten = 0;
  private readonly lines: string[] = [];
  private readonly failedLines = new Set<number>();
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private closed = false;

  constructor(private readonly track: (child: ChildProcessWithoutNullStreams) => void) {}

  /** Runs `commands`; resolves with the JSON printed by the last one, and stderr meanwhile. */
  run(commands: string[]): Promise<{ output: unknown; stderr: string }> {
    const result = this.queue.then(() => this.exclusive(commands));
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.closed = true;
    this.child?.stdin.end();
  }

  /** Kills the child (after the request in flight); the next request starts a new one. */
  restart(): void {
    const child = this.child;
    if (child !== null) {
      this.fail(child, new Error('restarted'));
    }
  }

  private async exclusive(commands: string[]): Promise<{ output: unknown; stderr: string }> {
    if (this.closed) {
      throw new Error('closed');
    }
    const child = this.child ?? this.start();
    this.stderr = '';
    this.lines.length = 0;
    this.failedLines.clear();
    this.linesWritten += commands.length;
    const last = this.linesWritten;
    child.stdin.write(`${commands.join('\n')}\n`);
    const timer = setTimeout(
      () => this.fail(child, new Error(`ip -batch gave no answer within ${BATCH_TIMEOUT_MS} ms`)),
      BATCH_TIMEOUT_MS,
    );
    try {
      const line = await this.next(last);
      // Error lines of earlier commands go to stderr before the answer, but another pipe.
      await new Promise((resolve) => setImmediate(resolve));
      const detail = cleanStderr(this.stderr);
      if (line === null) {
        throw new Error(detail === '' ? 'command failed' : detail);
      }
      return { output: parseJson(line), stderr: detail };
    } finally {
      clearTimeout(timer);
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn('ip', ['-json', '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.track(child);
    this.stdoutPending = '';
    this.linesWritten = 0;
    this.failure = null;
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => {
      if (this.child !== child) {
        return;
      }
      this.stdoutPending += chunk.toString('utf8');
      const lines = this.stdoutPending.split('\n');
      this.stdoutPending = lines.pop() ?? '';
      this.lines.push(...lines);
      this.notify();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.child !== child) {
        return;
      }
      this.stderr += chunk.toString('utf8');
      for (const match of this.stderr.matchAll(/Command failed -:(\d+)/g)) {
        this.failedLines.add(Number(match[1]));
      }
      this.notify();
    });
    child.on('error', (error) => this.fail(child, new Error(`cannot run ip: ${error.message}`)));
    child.on('close', (code, signal) =>
      this.fail(
        child,
        new Error(`ip -batch exited (${signal ?? `status ${code}`}) ${cleanStderr(this.stderr)}`.trim()),
      ),
    );
    return child;
  }

  /** The answer line, or null when line number `last` failed. */
  private next(last: number): Promise<string | null> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = this.lines.shift();
        if (line !== undefined) {
          resolve(line);
        } else if (this.failedLines.has(last)) {
          resolve(null);
        } else if (this.failure !== null) {
          reject(this.failure);
        } else {
          this.wake = check;
        }
      };
      check();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** The child is dead or stuck: fail the request in flight; the next one starts a new child. */
  private fail(child: ChildProcessWithoutNullStreams, error: Error): void {
    if (this.child !== child) {
      return;
    }
    this.child = null;
    this.lines.length = 0;
    this.failure = error;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    this.notify();
  }
}

// --- helpers -----------------------------------------------------------------------------

/** `a.b.c.d` or `a.b.c.d/len`, strictly (the text ends up on ip's batch input). */
export function parseIpv4(address: string): Ipv4 | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(address);
  if (match === null) {
    return null;
  }
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((octet) => octet > 255)) {
    return null;
  }
  const prefix = match[5] === undefined ? null : Number(match[5]);
  if (prefix !== null && prefix > 32) {
    return null;
  }
  return { ip: octets.join('.'), prefix };
}

interface InterfaceState {
  name: string;
  addresses: HeldAddress[];
}

/**
 * The interfaces and IPv4 addresses in one `ip -json address show` answer; null when it is
 * not one (every entry of a real answer has `ifname` and an `addr_info` array).
 */
function parseAddressShow(value: unknown): InterfaceState[] | null {
  if (!Array.isArray(value)) {
    return null;
  }
  const result: InterfaceState[] = [];
  for (const entry of value) {
    if (typeof entry !== 'object' || entry === null) {
      return null;
    }
    const name: unknown = Reflect.get(entry, 'ifname');
    const info: unknown = Reflect.get(entry, 'addr_info');
    if (typeof name !== 'string' || !Array.isArray(info)) {
      return null;
    }
    const addresses: HeldAddress[] = [];
    for (const item of info) {
      if (typeof item !== 'object' || item === null) {
        return null;
      }
      const family: unknown = Reflect.get(item, 'family');
      const local: unknown = Reflect.get(item, 'local');
      const prefix: unknown = Reflect.get(item, 'prefixlen');
      if (family === 'inet' && typeof local === 'string' && typeof prefix === 'number') {
        addresses.push({ ip: local, prefix });
      }
    }
    result.push({ name, addresses });
  }
  return result;
}

function parseJson(line: string): unknown {
  try {
    const value: unknown = JSON.parse(line);
    return value;
  } catch {
    return null;
  }
}

function cleanStderr(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('Command failed'))
    .join('; ');
}

/** Parses one `ip -o monitor link` line; null when it is not about `name`. */
export function parseMonitorLine(line: string, name: string): boolean | null {
  const match = /^(Deleted\s+)?\d+:\s+([^:@\s]+)(?:@[^:\s]*)?:\s+<([^>]*)>(?:.*?\bstate\s+(\S+))?/.exec(line.trim());
  if (match === null || match[2] !== name) {
    return null;
  }
  if (match[1] !== undefined) {
    return false;
  }
  const flags = (match[3] ?? '').split(',');
  const state = match[4] ?? 'UNKNOWN';
  return (
    flags.includes('UP') &&
    flags.includes('LOWER_UP') &&
    !flags.includes('NO-CARRIER') &&
    (state === 'UP' || state === 'UNKNOWN')
  );
}

function sysPath(name: string, file: string): string {
  return `/sys/class/net/${name}/${file}`;
}

/** Up when the carrier is present and the operational state is up (or unknown, as on lo). */
function readLinkState(name: string): boolean {
  const operstate = readFileSync(sysPath(name, 'operstate'), 'utf8').trim();
  let carrier: string;
  try {
    carrier = readFileSync(sysPath(name, 'carrier'), 'utf8').trim();
  } catch {
    // EINVAL while the interface is administratively down.
    return false;
  }
  return carrier === '1' && (operstate === 'up' || operstate === 'unknown');
}

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** Resolves when the child has exited and its output is read; SIGKILLs it after `timeoutMs`. */
function waitExit(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    };
    if (child.exitCode !== null || child.signalCode !== null) {
      if (child.stdout.readableEnded && child.stderr.readableEnded) {
        done(child.exitCode, child.signalCode);
        return;
      }
    }
    child.once('close', done);
    child.once('error', (error) => {
      stderr += error.message;
      if (child.pid === undefined) {
        done(null, null);
      }
    });
  });
}

function failureOf(exit: Exit): string {
  const detail = cleanStderr(exit.stderr);
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exit status ${exit.code ?? 'unknown'}`;
  return detail === '' ? how : `${how}: ${detail}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
