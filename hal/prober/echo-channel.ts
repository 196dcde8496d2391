import type { EchoReply, IcmpEcho } from '../icmp/index.js';
import type { ProbeAnswer, ProbeChannel, ProbeChannels } from './index.js';

/**
 * Probe runs over ICMP echo: each run takes a fresh identifier from the IcmpEcho, and hears
 * the echo replies from its target that carry it (what the native thread's BPF filter lets
 * through to it).
 */
export class EchoChannels implements ProbeChannels {
  readonly description = 'ICMP echo';
  private readonly runs = new Map<number, (reply: EchoReply) => void>();

  constructor(private readonly icmp: IcmpEcho) {
    icmp.onReply((reply) => this.runs.get(reply.identifier)?.(reply));
  }

  open(target: string, timeoutUs: number, onAnswer: (answer: ProbeAnswer) => void): ProbeChannel {
    const { icmp, runs } = this;
    const identifier = icmp.newIdentifier();
    runs.set(identifier, (reply) => {
      if (reply.from === target) onAnswer({ sequence: reply.sequence, receivedUs: reply.receivedUs });
    });
    return {
      send: (sequence) => icmp.send({ target, identifier, sequence, replyWithinUs: timeoutUs }),
      close: () => void runs.delete(identifier),
    };
  }
}
