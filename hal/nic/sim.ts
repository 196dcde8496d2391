import { NicError } from '../errors/index.js';
import type { SimHost, SimLan } from '../sim/lan.js';
import { isMac, parseIpv4 } from './address.js';
import type { ConflictReport, ConflictWatch, Nic } from './index.js';

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

  /** The IP of `address`, checked as the Linux driver checks it. */
  private ip(operation: string, address: string, needPrefix: boolean): string {
    const parsed = parseIpv4(address);
    if (parsed === null || (needPrefix && parsed.prefix === null))
      throw new NicError(
        this.name,
        operation,
        `invalid address (want a.b.c.d${needPrefix ? '/len' : '[/len]'})`,
        address,
      );
    return parsed.ip;
  }

  async assign(address: string): Promise<void> {
    this.alive('assign', address);
    const ip = this.ip('assign', address, true);
    if (this.host.failAssign) throw new NicError(this.name, 'assign', 'RTNETLINK answers: simulated failure', address);
    if (!this.host.addresses.has(ip)) this.host.addresses.set(ip, this.lan.clock.nowUs());
  }

  async release(address: string): Promise<void> {
    this.alive('release', address);
    const ip = this.ip('release', address, true);
    if (this.host.failRelease)
      throw new NicError(this.name, 'release', 'RTNETLINK answers: simulated failure', address);
    this.host.addresses.delete(ip);
  }

  async holds(address: string): Promise<boolean> {
    return this.host.addresses.has(this.ip('holds', address, false));
  }

  async announce(address: string, _count: number, _intervalMs: number): Promise<void> {
    this.alive('announce', address);
    const ip = this.ip('announce', address, false);
    if (!this.host.addresses.has(ip)) throw new NicError(this.name, 'announce', 'address not held', address);
    this.lan.announce(this.host, ip);
  }

  async detectConflict(address: string, windowMs: number): Promise<ConflictReport> {
    this.alive('detect-conflict', address);
    return this.lan.probe(this.host, this.ip('detect-conflict', address, false), Math.round(windowMs * 1000));
  }

  watchConflict(
    address: string,
    intervalMs: number,
    limitMs: number,
    onSeen: (evidence: string) => void,
  ): ConflictWatch | null {
    this.alive('watch-conflict', address);
    const ip = this.ip('watch-conflict', address, false);
    return this.lan.watch(this.host, ip, Math.round(intervalMs * 1000), Math.round(limitMs * 1000), onSeen);
  }

  async neighborMac(address: string): Promise<string | null> {
    return this.host.arp.get(this.ip('neighbor-mac', address, false)) ?? null;
  }

  async setNeighbor(address: string, mac: string): Promise<void> {
    this.alive('set-neighbor', address);
    if (!isMac(mac)) throw new NicError(this.name, 'set-neighbor', `invalid MAC ${JSON.stringify(mac)}`, address);
    this.host.arp.set(this.ip('set-neighbor', address, false), mac.toLowerCase());
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
