import { IcmpError } from '../../src/errors/index.js';
import type { SimHost, SimLan } from '../sim/lan.js';
import type { EchoReply, EchoRequest, IcmpEcho } from './index.js';

/** ICMP echo on the simulated LAN, bound to one life of a simulated host. */
export class SimIcmpEcho implements IcmpEcho {
  private readonly life: number;
  private listener: ((reply: EchoReply) => void) | null = null;
  private closed = false;
  /** Test control: every request sent, in order. */
  readonly sentRequests: EchoRequest[] = [];

  constructor(
    private readonly lan: SimLan,
    private readonly host: SimHost,
  ) {
    this.life = host.life;
    host.icmpListener = (reply) => this.listener?.(reply);
  }

  send(request: EchoRequest): void {
    if (this.closed) throw new IcmpError('socket closed');
    if (this.host.life !== this.life) return;
    this.sentRequests.push(request);
    this.lan.echo(this.host, request.target, request.identifier, request.sequence);
  }

  onReply(listener: (reply: EchoReply) => void): void {
    this.listener = listener;
  }

  /** Test control: hand the agent a packet as if it had arrived (strangers, duplicates). */
  inject(reply: EchoReply): void {
    this.host.deliver(this.life, () => this.listener?.(reply));
  }

  close(): void {
    this.closed = true;
    this.listener = null;
  }
}
