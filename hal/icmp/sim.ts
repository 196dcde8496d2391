import { IcmpError } from '../errors/index.js';
import type { SimHost, SimLan } from '../sim/lan.js';
import { EchoIdentifiers } from './identifiers.js';
import type { EchoReply, EchoRequest, IcmpEcho } from './index.js';

/** ICMP echo on the simulated LAN, bound to one life of a simulated host. */
export class SimIcmpEcho implements IcmpEcho {
  private readonly life: number;
  private readonly listeners: Array<(reply: EchoReply) => void> = [];
  private closed = false;
  /** From 1: replies reach only this life of this host, so no other agent shares them. */
  private readonly identifiers = new EchoIdentifiers(1);
  /** Test control: every request sent, in order. */
  readonly sentRequests: EchoRequest[] = [];

  constructor(
    private readonly lan: SimLan,
    private readonly host: SimHost,
  ) {
    this.life = host.life;
    host.icmpListener = (reply) => this.hand(reply);
  }

  send(request: EchoRequest): void {
    if (this.closed) throw new IcmpError('socket closed');
    if (this.host.life !== this.life) return;
    this.sentRequests.push(request);
    this.lan.echo(this.host, request.target, request.identifier, request.sequence);
  }

  newIdentifier(): number {
    return this.identifiers.take();
  }

  onReply(listener: (reply: EchoReply) => void): void {
    this.listeners.push(listener);
  }

  /** Test control: hand the agent a packet as if it had arrived (strangers, duplicates). */
  inject(reply: EchoReply): void {
    this.host.deliver(this.life, () => this.hand(reply));
  }

  close(): void {
    this.closed = true;
    this.listeners.length = 0;
  }

  private hand(reply: EchoReply): void {
    for (const listener of [...this.listeners]) listener(reply);
  }
}
