import type { LeaseHandle } from '../lease/handle.js';
import { LeaseService } from '../lease/service.js';
import type { LeaseStatus } from '../lease/service.js';
import { leaseTiming, leaseVoters } from '../lease/voters.js';
import { PeerHeartbeat, peerMembers } from '../peer/index.js';
import type { PeerObservation, PeerStatus } from '../peer/index.js';
import type { AddressName } from '../role/index.js';
import type { ExecutorContext } from './context.js';

/**
 * The executor's ties to the other members: the peer heartbeat (when `peer.key_file` is set
 * and the builder gave a transport), the lease service (`fencing.gate: lease`), and which
 * cluster addresses this agent holds, which both of them report.
 */
export class PeerLinks {
  private readonly heartbeat: PeerHeartbeat | null = null;
  private readonly lease: LeaseHandle | null = null;
  /** The cluster addresses this agent assigned and has not released. */
  private readonly holding = new Set<AddressName>();

  constructor(x: ExecutorContext) {
    const { ports } = x;
    const log = x.log.bind(x);
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
        local: () => {
          const s = x.state();
          return {
            phase: s.phase,
            role: s.role,
            epoch: s.epoch,
            holdsPrimary: this.holding.has('primary'),
            holdsMonitor: this.holding.has('monitor'),
          };
        },
        onObservation: (o) => x.dispatch(observed(o)),
        onSilent: (s) => x.dispatch({ type: 'peer-silent', nowUs: s.nowUs, node: s.node, path: s.path }),
        log,
      });
      if (config.fencing.gate === 'lease') {
        const l = config.lease;
        const lease = (held: boolean) => (epoch: number, detail: string) =>
          x.dispatch({ type: 'lease', nowUs: x.now(), held, epoch, detail });
        const callbacks = { onHeld: lease(true), onLost: lease(false), onYield: lease(false), log };
        this.lease =
          ports.leaseRunner?.(callbacks) ??
          new LeaseService({
            self: config.node,
            members: leaseVoters(config),
            port: config.peer.port,
            key: peer.key,
            transport: peer.transport,
            clock: ports.clock,
            nonce: peer.nonce,
            timing: leaseTiming(config),
            renewUs: l.renewMs * 1000,
            enforcer: ports.leaseEnforcer ?? null,
            holdsPrimary: () => this.holding.has('primary'),
            ...callbacks,
          });
      }
    }
    if (x.mc.lease !== null && this.lease === null)
      throw new Error('fencing.gate is lease but the agent has no peer transport to ask for a lease on');
  }

  start(): void {
    this.heartbeat?.start();
  }

  stop(): void {
    this.heartbeat?.stop();
    this.lease?.stop();
  }

  /** Rule: under the lease gate no assign of the primary address without a lease left. */
  mayAssign(address: AddressName): void {
    // The machine asked while it had one, but this server may have stalled since.
    if (address === 'primary' && this.lease !== null && this.lease.leftUs() <= 0)
      throw new Error('the lease ran out before the primary address could be assigned');
  }

  assigned(address: AddressName): void {
    if (address === 'primary') this.lease?.reassert();
    this.holding.add(address);
    // On the next turn of the event loop: the gratuitous ARP that follows the assignment in
    // the same role change is written to the ARP helper first (the peers' view of who holds
    // what can wait that long; the LAN's cannot). A heartbeat to each peer on each path is a
    // MAC and a hand-off to the lease thread each (README "Benchmarks" has what it cost).
    setImmediate(() => this.heartbeat?.sendNow());
  }

  /**
   * The address is not held (any more). `releasedNow`: this agent just released it, so the
   * peers hear it at once.
   */
  released(address: AddressName, how: { releasedNow: boolean }): void {
    this.holding.delete(address);
    // The address is gone: a lease given up can be released, so a claimant need not wait it out.
    if (address === 'primary') this.lease?.addressGone();
    if (how.releasedNow) this.heartbeat?.sendNow();
  }

  acquireLease(epoch: number): void {
    this.lease?.acquire(epoch);
  }

  releaseLease(): void {
    this.lease?.release();
  }

  status(): { peers: PeerStatus | null; lease: LeaseStatus | null } {
    return { peers: this.heartbeat?.status() ?? null, lease: this.lease?.status() ?? null };
  }
}

/** An authenticated heartbeat the service passed on (changed, or due again), as an event. */
function observed(o: PeerObservation): Parameters<ExecutorContext['dispatch']>[0] {
  return {
    type: 'peer',
    nowUs: o.atUs,
    node: o.node,
    path: o.path,
    phase: o.phase,
    role: o.role,
    epoch: o.epoch,
    holdsPrimary: o.holdsPrimary,
    holdsMonitor: o.holdsMonitor,
  };
}
