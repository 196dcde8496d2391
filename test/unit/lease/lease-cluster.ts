/**
 * Three members' lease services on a virtual clock and a simulated LAN, for the service's
 * unit tests: each with an enforcer that only records what it was told.
 */
import { VirtualClock } from '../../../hal/clock/sim.js';
import type { LeaseEnforcer } from '../../../hal/lease/index.js';
import type { PeerTransport } from '../../../hal/peer/index.js';
import { SimPeerNet, SimPeerTransport } from '../../../hal/peer/sim.js';
import { HostClock } from '../../../hal/sim/host-clock.js';
import { SimLan, type SimHost } from '../../../hal/sim/lan.js';
import { LeaseService } from '../../../src/lease/service.js';
import { PeerKey } from '../../../src/peer/key.js';

const KEY = PeerKey.fromSecret(Buffer.from('lease late test key of 32 bytes!'));
const PORT = 7405;
export const MEMBERS = ['a', 'b', 'c'].map((name, i) => ({ name, lan: `198.18.0.${11 + i}`, mgmt: null }));

/** An enforcer that only records: the test says when it "removed" the address. */
export class RecordingEnforcer implements LeaseEnforcer {
  readonly holds: number[] = [];
  /** Every call in order, with the clock's time: `hold US` or `disarm`. */
  readonly calls: Array<{ atUs: number; call: string }> = [];
  private readonly listeners: Array<(lateUs: number, deadlineUs: number | null) => void> = [];
  constructor(private readonly nowUs: () => number) {}
  hold(untilUs: number): void {
    this.holds.push(Math.round(untilUs));
    this.calls.push({ atUs: this.nowUs(), call: `hold ${Math.round(untilUs)}` });
  }
  disarm(): void {
    this.calls.push({ atUs: this.nowUs(), call: 'disarm' });
  }
  onExpired(listener: (lateUs: number, deadlineUs: number | null) => void): void {
    this.listeners.push(listener);
  }
  close(): void {}
  expire(lateUs: number, deadlineUs: number | null): void {
    for (const l of this.listeners) l(lateUs, deadlineUs);
  }
}

export interface Member {
  host: SimHost;
  enforcer: RecordingEnforcer;
  service: LeaseService;
  lost: string[];
  held: string[];
  warnings: string[];
  /** What `holdsPrimary` answers: the test sets it as the agent's assign and release would. */
  holdsPrimary: boolean;
  /** Every datagram this member's service sent: to which address, when. */
  sent: Array<{ to: string; atUs: number }>;
}

export function cluster(loopName?: string): { clock: VirtualClock; members: Map<string, Member> } {
  const clock = new VirtualClock();
  const lan = new SimLan(clock, 100);
  const net = new SimPeerNet(lan);
  const members = new Map<string, Member>();
  MEMBERS.forEach((m, i) => {
    const host = lan.addHost(m.name, `02:00:00:00:00:0${i + 1}`);
    const lost: string[] = [];
    const held: string[] = [];
    const warnings: string[] = [];
    const enforcer = new RecordingEnforcer(() => clock.nowUs());
    const self: { member: Member | null } = { member: null };
    const sent: Member['sent'] = [];
    const sim = new SimPeerTransport(net, host, [{ path: 'lan', address: m.lan }], PORT);
    const transport: PeerTransport = {
      send: (path, address, port, bytes) => {
        sent.push({ to: address, atUs: clock.nowUs() });
        sim.send(path, address, port, bytes);
      },
      onDatagram: (listener) => sim.onDatagram(listener),
      bound: () => sim.bound(),
      close: () => sim.close(),
    };
    const service = new LeaseService({
      self: m.name,
      members: MEMBERS,
      port: PORT,
      key: KEY,
      transport,
      clock: new HostClock(clock, host),
      nonce: Buffer.alloc(16, m.name.charCodeAt(0)),
      timing: { durationUs: 25_000, drift: 0.001, dropUs: 5_000 },
      renewUs: 5_000,
      enforcer,
      holdsPrimary: () => self.member?.holdsPrimary ?? false,
      onHeld: (_epoch, detail) => held.push(detail),
      onLost: (_epoch, detail) => lost.push(detail),
      onYield: () => undefined,
      ...(loopName === undefined ? {} : { loopName }),
      log: (level, event, message) => {
        if (level === 'warn') warnings.push(`${event}: ${message}`);
      },
    });
    self.member = { host, enforcer, service, lost, held, warnings, holdsPrimary: false, sent };
    members.set(m.name, self.member);
  });
  return { clock, members };
}

export function member(members: Map<string, Member>, name: string): Member {
  const m = members.get(name);
  if (m === undefined) throw new Error(`no member ${name}`);
  return m;
}

/** Holds the agent of `host` for `forUs`: its timers and datagrams wait, then run late. */
export function freezeFor(clock: VirtualClock, host: SimHost, forUs: number): void {
  host.freeze();
  clock.at(clock.nowUs() + forUs, () => host.thaw());
}
