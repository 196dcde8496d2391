import { nextRandom } from '../base/random.js';
import { PeerError } from '../errors/index.js';
import type { SimHost, SimLan } from '../sim/lan.js';
import type { PeerBinding, PeerDatagram, PeerPathName, PeerTransport } from './index.js';

interface Endpoint {
  transport: SimPeerTransport;
  host: SimHost;
  life: number;
}

/**
 * The two peer paths of a simulated cluster: `lan` is the simulated LAN (its latency and
 * loss, a silent switch port or a cut cable drops everything), `mgmt` a second network whose
 * port a test cuts separately (`SimHost.mgmtUp`). Powered-off hosts send and hear nothing.
 */
export class SimPeerNet {
  private readonly endpoints = new Map<string, Endpoint>();
  private rng: number;
  /** Loss on the management path (the LAN path uses `lan.lossRate`). */
  mgmtLossRate = 0;

  constructor(
    readonly lan: SimLan,
    seed = 7,
  ) {
    this.rng = seed >>> 0;
  }

  /** Whether `host` can send and hear on `path` now. */
  connected(host: SimHost, path: PeerPathName): boolean {
    return path === 'lan' ? host.onWire : host.onMgmt;
  }

  register(path: PeerPathName, address: string, port: number, endpoint: Endpoint): void {
    this.endpoints.set(key(path, address, port), endpoint);
  }

  unregister(transport: SimPeerTransport): void {
    for (const [k, e] of this.endpoints) if (e.transport === transport) this.endpoints.delete(k);
  }

  /** One datagram from `from` (bound at `fromAddress`) on `path`, after the LAN's latency. */
  carry(
    from: SimHost,
    path: PeerPathName,
    fromAddress: string,
    fromPort: number,
    to: string,
    port: number,
    data: Uint8Array,
  ): void {
    if (!this.connected(from, path)) return;
    const target = this.endpoints.get(key(path, to, port));
    if (target === undefined || this.lost(path)) return;
    const clock = this.lan.clock;
    const copy = Uint8Array.from(data);
    clock.at(clock.nowUs() + this.lan.latencyUs, () => {
      // Delivered only if both ends are still connected and the receiver is the same life.
      if (!this.connected(from, path) || !this.connected(target.host, path)) return;
      const datagram: PeerDatagram = { path, from: fromAddress, fromPort, data: copy, receivedUs: clock.nowUs() };
      target.host.deliver(target.life, () => target.transport.hand(datagram));
    });
  }

  private lost(path: PeerPathName): boolean {
    const rate = path === 'lan' ? this.lan.lossRate : this.mgmtLossRate;
    if (rate <= 0) return false;
    const { value, seed } = nextRandom(this.rng);
    this.rng = seed;
    return value < rate;
  }
}

function key(path: PeerPathName, address: string, port: number): string {
  return `${path}/${address}:${port}`;
}

/** Peer datagrams of one life of a simulated host. */
export class SimPeerTransport implements PeerTransport {
  private readonly life: number;
  private readonly listeners: Array<(datagram: PeerDatagram) => void> = [];
  private readonly addresses = new Map<PeerPathName, string>();
  private closed = false;
  /** Test control: datagrams sent, in order. */
  readonly sent: Array<{ path: PeerPathName; to: string; port: number; data: Uint8Array }> = [];

  constructor(
    private readonly net: SimPeerNet,
    private readonly host: SimHost,
    bindings: readonly PeerBinding[],
    private readonly port: number,
  ) {
    this.life = host.life;
    for (const b of bindings) {
      this.addresses.set(b.path, b.address);
      net.register(b.path, b.address, port, { transport: this, host, life: this.life });
    }
  }

  send(path: PeerPathName, address: string, port: number, data: Uint8Array): void {
    if (this.closed) throw new PeerError('socket', 'the peer transport is closed');
    const from = this.addresses.get(path);
    if (from === undefined || this.host.life !== this.life) return;
    this.sent.push({ path, to: address, port, data });
    this.net.carry(this.host, path, from, this.port, address, port, data);
  }

  onDatagram(listener: (datagram: PeerDatagram) => void): void {
    this.listeners.push(listener);
  }

  bound(): PeerPathName[] {
    return [...this.addresses.keys()];
  }

  /** Test control: hand a datagram to the listeners as if it had arrived (strangers, replays). */
  inject(datagram: PeerDatagram): void {
    this.host.deliver(this.life, () => this.hand(datagram));
  }

  /** @internal from SimPeerNet */
  hand(datagram: PeerDatagram): void {
    if (this.closed) return;
    for (const listener of [...this.listeners]) listener(datagram);
  }

  close(): void {
    this.closed = true;
    this.listeners.length = 0;
    this.net.unregister(this);
  }
}
