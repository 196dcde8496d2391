/**
 * ICMP echo over a raw IPv4 socket (the `raw-socket` native addon). Needs root or
 * CAP_NET_RAW. The socket receives every ICMP datagram reaching this network namespace,
 * IP header included; `packet.ts` keeps only well-formed echo replies.
 */
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Clock } from '../clock/index.js';
import { EchoIdentifiers } from './identifiers.js';
import type { EchoReply, EchoRequest, IcmpEcho } from './index.js';
import { buildEchoRequest, buildIpv4Header, parseEchoReply, parseIpv4 } from './packet.js';
import { IcmpError } from '../errors/icmp-error.js';

/** The part of raw-socket's API this driver uses (the addon ships no type declarations). */
interface RawSocket {
  on(event: 'message', listener: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'close', listener: () => void): void;
  send(
    buffer: Buffer,
    offset: number,
    length: number,
    address: string,
    beforeCallback: (() => void) | null,
    afterCallback: (error: Error | null, bytes: number) => void,
  ): void;
  setOption(level: number, option: number, value: number): void;
  pauseRecv?(): void;
  resumeRecv?(): void;
  close(): void;
  /**
   * The addon's own socket object: `send` calls sendto(2) at once and throws on failure.
   * Not in raw-socket's documented API, so checked before use (see `sendNow`).
   */
  wrap?: {
    send?: (buffer: Buffer, offset: number, length: number, address: string, done: (bytes: number) => void) => void;
  };
}

interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  Protocol: { ICMP: number };
  AddressFamily: { IPv4: number };
  SocketLevel: { IPPROTO_IP: number; SOL_SOCKET: number };
  SocketOption: { IP_HDRINCL: number; SO_RCVBUF: number };
}

const require = createRequire(import.meta.url);

function loadRawSocket(): RawSocketModule {
  try {
    // The addon's exports are untyped; RawSocketModule above is what we rely on.
    const raw: RawSocketModule = require('raw-socket');
    return raw;
  } catch (error) {
    throw new IcmpError('cannot load the raw-socket addon', { cause: error });
  }
}

/**
 * Reading pauses once no request awaits a reply any more (each request says how long:
 * `replyWithinUs`, default 2 s). Every ICMP datagram reaching the namespace is copied to every
 * raw ICMP socket, so while the native prober probes, its replies would otherwise wake the
 * event loop once per probe for nothing. While paused the kernel's receive buffer is cut to
 * its minimum (a few datagrams): what queues meanwhile is read at the next send and dropped
 * as not ours, without a backlog. Reading resumes, with the full buffer, at the next send.
 */
const DEFAULT_REPLY_WITHIN_US = 2_000_000;
/** SO_RCVBUF while reading (the kernel doubles it): ~100 small datagrams. */
const READING_RCVBUF = 128 * 1024;
/** SO_RCVBUF while paused: the kernel raises it to its minimum (~2 datagrams). */
const PAUSED_RCVBUF = 1;

/** ASCII "hotspare": a small, recognisable payload. */
const PAYLOAD = Buffer.from('hotspare', 'ascii');
const RECEIVE_BUFFER_BYTES = 4096;

export interface RawIcmpEchoOptions {
  /** Source address of the requests (sent with IP_HDRINCL); default: chosen by the kernel. */
  sourceAddress?: string;
}

export class RawIcmpEcho implements IcmpEcho {
  private readonly listeners: Array<(reply: EchoReply) => void> = [];
  /** From a random start: agents of other processes in the namespace see these replies too. */
  private readonly identifiers = new EchoIdentifiers(randomInt(1, 0x10000));
  private closed = false;
  private failure: Error | null = null;
  /** Datagrams sent at once by `sendNow` (the rest went through raw-socket's queue). */
  directSends = 0;
  /** Times reading paused for lack of sends (see IDLE_LISTEN_US). */
  idlePauses = 0;
  private listenUntilUs = 0;
  private receivePaused = false;

  private constructor(
    private readonly socket: RawSocket,
    private readonly clock: Clock,
    private readonly sourceAddress: string | null,
    private readonly raw: RawSocketModule,
  ) {
    socket.on('message', (buffer) => {
      // Timestamp first: everything else is slower than reading the clock.
      const receivedUs = clock.nowUs();
      this.receive(buffer, receivedUs);
      if (receivedUs > this.listenUntilUs) this.pauseReceiving();
    });
    socket.on('error', (error) => {
      // raw-socket closes the socket after emitting an error: it is now unusable.
      this.failure = error;
    });
  }

  /** Opens the raw socket; throws `IcmpError` (root or CAP_NET_RAW needed) when refused. */
  static open(clock: Clock, options: RawIcmpEchoOptions = {}): RawIcmpEcho {
    const source = options.sourceAddress;
    if (source !== undefined && parseIpv4(source) === null) {
      throw new IcmpError(`invalid source address ${JSON.stringify(source)}`);
    }
    const raw = loadRawSocket();
    let socket: RawSocket;
    try {
      socket = raw.createSocket({
        protocol: raw.Protocol.ICMP,
        addressFamily: raw.AddressFamily.IPv4,
        bufferSize: RECEIVE_BUFFER_BYTES,
      });
    } catch (error) {
      throw new IcmpError(describeOpenFailure(error), { cause: error });
    }
    if (source !== undefined) {
      try {
        socket.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
      } catch (error) {
        socket.close();
        throw new IcmpError(`cannot set IP_HDRINCL for source address ${source}`, { cause: error });
      }
    }
    return new RawIcmpEcho(socket, clock, source ?? null, raw);
  }

  newIdentifier(): number {
    return this.identifiers.take();
  }

  send(request: EchoRequest): void {
    if (this.closed) {
      throw new IcmpError('send after close');
    }
    if (this.failure !== null) {
      throw new IcmpError(`socket failed: ${this.failure.message}`, { cause: this.failure });
    }
    if (parseIpv4(request.target) === null) {
      throw new IcmpError(`invalid target ${JSON.stringify(request.target)}`);
    }
    let packet: Buffer;
    try {
      const icmp = buildEchoRequest(request.identifier, request.sequence, PAYLOAD);
      packet =
        this.sourceAddress === null ? icmp : Buffer.concat([buildIpv4Header(this.sourceAddress, request.target), icmp]);
    } catch (error) {
      throw new IcmpError(`invalid echo request: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    this.listenUntilUs = Math.max(
      this.listenUntilUs,
      this.clock.nowUs() + (request.replyWithinUs ?? DEFAULT_REPLY_WITHIN_US),
    );
    if (this.receivePaused) this.resumeReceiving();
    if (this.sendNow(packet, request.target)) return;
    // Unreachable targets (ENETUNREACH, EHOSTUNREACH, ...) are not errors here: the echo
    // simply gets no reply. The send callback's error is therefore ignored.
    this.socket.send(packet, 0, packet.length, request.target, null, () => undefined);
  }

  /**
   * sendto(2) now, without raw-socket's queue. The queue resumes the socket's poll watcher for
   * writability, sends from the next loop iteration and pauses it again from the one after:
   * two extra event-loop wake-ups and four epoll_ctl calls for every probe, and the probe
   * leaves one iteration later than scheduled. A raw socket is practically always writable;
   * when this send fails (EAGAIN, or an unreachable target) the datagram goes the queued way,
   * which ignores errors as before. False when the addon has no such method (another version).
   */
  private sendNow(packet: Buffer, target: string): boolean {
    const wrap = this.socket.wrap;
    if (wrap === undefined || typeof wrap.send !== 'function') return false;
    try {
      wrap.send(packet, 0, packet.length, target, () => undefined);
      this.directSends += 1;
      return true;
    } catch {
      return false;
    }
  }

  onReply(listener: (reply: EchoReply) => void): void {
    this.listeners.push(listener);
  }

  private pauseReceiving(): void {
    if (
      this.receivePaused ||
      this.closed ||
      typeof this.socket.pauseRecv !== 'function' ||
      typeof this.socket.resumeRecv !== 'function'
    )
      return;
    this.receivePaused = true;
    this.idlePauses += 1;
    this.socket.pauseRecv();
    this.setReceiveBuffer(PAUSED_RCVBUF);
  }

  private resumeReceiving(): void {
    this.receivePaused = false;
    this.setReceiveBuffer(READING_RCVBUF);
    this.socket.resumeRecv?.();
  }

  private setReceiveBuffer(bytes: number): void {
    try {
      this.socket.setOption(this.raw.SocketLevel.SOL_SOCKET, this.raw.SocketOption.SO_RCVBUF, bytes);
    } catch {
      // Only a bound on what queues while paused; reading works without it.
    }
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.listeners.length = 0;
    try {
      this.socket.close();
    } catch {
      // Already closed after an error: nothing left to release.
    }
  }

  private receive(buffer: Buffer, receivedUs: number): void {
    if (this.closed) {
      return;
    }
    // `buffer` is a view of raw-socket's shared receive buffer: parse it synchronously.
    const parsed = parseEchoReply(buffer);
    if (parsed === null) {
      return;
    }
    const reply: EchoReply = {
      from: parsed.from,
      identifier: parsed.identifier,
      sequence: parsed.sequence,
      receivedUs,
    };
    for (const listener of [...this.listeners]) {
      try {
        listener(reply);
      } catch (error) {
        // A throw would reach raw-socket's receive loop, which closes the socket on any
        // error; surface it as an uncaught exception instead, outside that loop.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

function describeOpenFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/operation not permitted|permission denied|EPERM|EACCES/i.test(message)) {
    return `cannot open a raw ICMP socket (${message}): needs root or CAP_NET_RAW`;
  }
  return `cannot open a raw ICMP socket: ${message}`;
}
