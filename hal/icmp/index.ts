/**
 * ICMP echo: sends echo requests and reports echo replies.
 *
 * Contract:
 * - `send` never throws for an unreachable target; an echo that gets no reply simply
 *   produces no `EchoReply`. It throws `IcmpError` only when the socket itself is unusable.
 * - `onReply` receives only well-formed echo replies (type 0, code 0, valid length);
 *   malformed packets and other ICMP types are dropped by the driver. Replies whose
 *   identifier belongs to someone else are still delivered: matching is the caller's job.
 * - `receivedUs` is taken from the same monotonic clock the caller uses, as close to the
 *   packet's arrival as the driver can manage.
 * - `newIdentifier()` hands out the identifiers of this socket's conversations (a probe run,
 *   an operator's probe, a conflict check): no two callers get the same one, so none counts
 *   another's replies. Nothing else may invent identifiers for this socket.
 * - After `close()`, no more replies are delivered and `send` throws.
 */
export interface IcmpEcho {
  send(request: EchoRequest): void;
  onReply(listener: (reply: EchoReply) => void): void;
  newIdentifier(): number;
  close(): void;
}

export interface EchoRequest {
  /** IPv4 address, no prefix length. */
  target: string;
  identifier: number;
  sequence: number;
  /**
   * How long after sending a reply is still awaited (µs; default 2 s). A driver may stop
   * reading once every request's wait is over: a reply that comes later is delivered late.
   */
  replyWithinUs?: number;
}

export interface EchoReply {
  from: string;
  identifier: number;
  sequence: number;
  receivedUs: number;
}
