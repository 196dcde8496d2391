import { NicError } from '../errors/index.js';
import type { SimHost, SimLan } from '../sim/lan.js';
import { ipOf } from '../sim/lan.js';
import type { ConflictReport, Nic } from './index.js';

/** A NIC on the simulated LAN, bound to one life of a simulated host. */
export class SimNic implements Nic {
  readonly name = 'sim0';
  private readonly life: number;
  private closed = false;

  constructor(
    private readonly lan: SimLan,
    private readonly host: SimHost,
  ) {
    this.life = host.life;
  }

  get mac(): string {
    return this.host.mac;
  }

  private alive(operation: string, address = ''): void {
    if (this.closed || this.host.life !== this.life || !this.host.powered)
      throw new NicError(this.name, operation, 'host is not running', address);
  }

  async assign(address: string): Promise<void> {
    this.alive('assign', address);
    if (this.host.failAssign) throw new NicError(this.name, 'assign', 'RTNETLINK answers: simulated failure', address);
    const ip = ipOf(address);
    if (!this.host.addresses.has(ip)) this.host.addresses.set(ip, this.lan.clock.nowUs());
  }

  async release(address: string): Promise<void> {
    this.alive('release', address);
    if (this.host.failRelease)
      throw new NicError(this.name, 'release', 'RTNETLINK answers: simulated failure', address);
    this.host.addresses.delete(ipOf(address));
  }

  async holds(address: string): Promise<boolean> {
    return this.host.addresses.has(ipOf(address));
  }

  async announce(address: string, _count: number, _intervalMs: number): Promise<void> {
    this.alive('announce', address);
    const ip = ipOf(address);
    if (!this.host.addresses.has(ip)) throw new NicError(this.name, 'announce', 'address not held', address);
    this.lan.announce(this.host, ip);
  }

  detectConflict(address: string, windowMs: number): Promise<ConflictReport> {
    this.alive('detect-conflict', address);
    return this.lan.probe(this.host, ipOf(address), Math.round(windowMs * 1000));
  }

  async neighborMac(address: string): Promise<string | null> {
    return this.host.arp.get(ipOf(address)) ?? null;
  }

  async linkUp(): Promise<boolean> {
    return this.host.linkUp;
  }

  onLink(listener: (up: boolean) => void): void {
    this.host.linkListeners.push(listener);
  }

  close(): void {
    this.closed = true;
  }
}
