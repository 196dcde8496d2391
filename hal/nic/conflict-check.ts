/**
 * The ways a Linux NIC hears whether another machine uses an address (RFC 5227 and ICMP):
 * - ICMP echoes through the shared IcmpEcho, spread over the window (EchoProbe);
 * - ARP probing with the `hotspare-arp` tool (hal/nic/hotspare-arp.c, an AF_PACKET socket,
 *   which Node cannot open): a line to the long-lived helper (hal/nic/arp-helper.ts), or one
 *   `hotspare-arp probe` process; it also hears another host probing for the same address at
 *   the same time (`arp-probe MAC`, reported as contended);
 * - without the tool, `arping -D` probes, which hear only hosts that use the address.
 * Evidence is `arp-reply MAC` / `arp-probe MAC` / `arp-request MAC`; this NIC's own MAC never.
 */
import type { Clock } from '../clock/index.js';
import { nextSequence } from '../icmp/identifiers.js';
import type { EchoReply, IcmpEcho } from '../icmp/index.js';
import { NicError } from '../errors/nic-error.js';
import type { ArpHelper } from './arp-helper.js';
import { describe, failureOf, waitExit, type Children, type Exit } from './processes.js';

const CHILD_KILL_GRACE_MS = 2000;
const ICMP_ECHOES = 3;

/** What a probe needs of its NIC. */
export interface ProbeSite {
  name: string;
  mac: string;
  clock: Clock;
  children: Children;
}

/** One probe over the window by the helper: its evidence, this NIC's own MAC left out. */
export async function helperProbe(
  site: ProbeSite,
  helper: ArpHelper,
  ip: string,
  address: string,
  windowMs: number,
): Promise<string[]> {
  let seen: string[];
  try {
    seen = await helper.probe(ip, windowMs);
  } catch (error) {
    // Closed while probing: we know nothing, and "nothing seen" must not read as free.
    if (site.children.closed) return ['nic closed'];
    throw new NicError(site.name, 'detect-conflict', describe(error), address, { cause: error });
  }
  return seen.filter((observation) => !observation.endsWith(` ${site.mac}`));
}

/** One `hotspare-arp probe` process over the window. */
export async function processProbe(
  site: ProbeSite,
  tool: string,
  ip: string,
  address: string,
  windowMs: number,
): Promise<string[]> {
  const child = site.children.spawn('detect-conflict', address, tool, ['probe', site.name, ip, String(windowMs)]);
  const exit = await waitExit(child, windowMs + CHILD_KILL_GRACE_MS);
  // Closed while probing: we know nothing, and "nothing seen" must not read as free.
  if (site.children.closed) return ['nic closed'];
  if (exit.code === null || exit.code > 2) {
    throw new NicError(site.name, 'detect-conflict', `hotspare-arp failed: ${failureOf(exit)}`, address);
  }
  const evidence: string[] = [];
  for (const match of exit.stdout.matchAll(/^(arp-reply|arp-probe) ([0-9a-f]{2}(?::[0-9a-f]{2}){5})$/gm)) {
    if (match[2] !== site.mac) evidence.push(`${match[1] ?? 'arp-reply'} ${match[2] ?? ''}`);
  }
  return evidence;
}

/** `arping -D` probes spread over the window. */
export async function arpingProbe(
  site: ProbeSite,
  ip: string,
  address: string,
  deadlineUs: number,
  windowMs: number,
): Promise<string[]> {
  const { clock, children } = site;
  const probes = Math.min(3, Math.max(1, Math.floor(windowMs / 150)));
  const runs: Array<Promise<Exit>> = [];
  const cancels: Array<() => void> = [];
  const launch = (): void => {
    if (children.closed) {
      return;
    }
    const child = children.spawn('detect-conflict', address, 'arping', ['-D', '-c', '1', '-I', site.name, ip]);
    runs.push(waitExit(child, windowMs + CHILD_KILL_GRACE_MS));
    cancels.push(clock.at(deadlineUs, () => child.kill('SIGTERM')));
  };
  const startUs = clock.nowUs();
  const span = deadlineUs - startUs;
  launch();
  await Promise.all(
    Array.from({ length: probes - 1 }, (_, i) => until(clock, startUs + ((i + 1) * span) / probes).then(launch)),
  );
  const exits = await Promise.all(runs);
  cancels.forEach((cancel) => cancel());
  const evidence = new Set<string>();
  for (const exit of exits) {
    if (exit.code !== null && exit.code > 1) {
      throw new NicError(site.name, 'detect-conflict', `arping failed: ${failureOf(exit)}`, address);
    }
    for (const match of exit.stdout.matchAll(/(?:Unicast|Broadcast) (reply|request) from (\S+) \[([0-9A-Fa-f:]+)\]/g)) {
      const mac = (match[3] ?? '').toLowerCase();
      if (match[2] === ip && mac !== site.mac) {
        evidence.add(`arp-${match[1] ?? 'reply'} ${mac}`);
      }
    }
  }
  return [...evidence];
}

/** ICMP echoes of one NIC's conflict checks, under one identifier. */
export class EchoProbe {
  private readonly waiters = new Set<(reply: EchoReply) => void>();
  private sequence = 0;

  constructor(
    private readonly site: ProbeSite,
    private readonly icmp: IcmpEcho,
    readonly identifier: number,
  ) {
    icmp.onReply((reply) => {
      for (const waiter of [...this.waiters]) {
        waiter(reply);
      }
    });
  }

  /** Echoes to `ip` spread over the window; true when one of ours is answered by `ip`. */
  answered(ip: string, address: string, deadlineUs: number, windowMs: number): Promise<boolean> {
    const { site, icmp, identifier } = this;
    return new Promise((resolve, reject) => {
      const sent = new Set<number>();
      const timers: Array<() => void> = [];
      const finish = (answered: boolean, error?: unknown): void => {
        this.waiters.delete(waiter);
        timers.forEach((cancel) => cancel());
        if (error === undefined) {
          resolve(answered);
        } else {
          reject(
            new NicError(site.name, 'detect-conflict', `ICMP echo failed: ${describe(error)}`, address, {
              cause: error,
            }),
          );
        }
      };
      const waiter = (reply: EchoReply): void => {
        if (reply.from === ip && reply.identifier === identifier && sent.has(reply.sequence)) {
          finish(true);
        }
      };
      const echo = (): void => {
        if (site.children.closed) {
          return;
        }
        this.sequence = nextSequence(this.sequence);
        sent.add(this.sequence);
        try {
          icmp.send({
            target: ip,
            identifier,
            sequence: this.sequence,
            replyWithinUs: deadlineUs - site.clock.nowUs(),
          });
        } catch (error) {
          finish(false, error);
        }
      };
      this.waiters.add(waiter);
      const startUs = site.clock.nowUs();
      for (let i = 1; i < ICMP_ECHOES; i += 1) {
        timers.push(site.clock.at(startUs + (i * windowMs * 1000) / ICMP_ECHOES, echo));
      }
      timers.push(site.clock.at(deadlineUs, () => finish(false)));
      echo();
    });
  }

  /** Forgets every waiting check (the NIC closed). */
  close(): void {
    this.waiters.clear();
  }
}

export function until(clock: Clock, deadlineUs: number): Promise<void> {
  return new Promise((resolve) => {
    clock.at(deadlineUs, resolve);
  });
}
