/**
 * Datagram transport of an RMCP+ session: one connected UDP socket per BMC (node:dgram).
 * The session talks to this interface only, so tests can put a fake BMC behind it.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

export interface DatagramHandlers {
  message(datagram: Buffer): void;
  /** A socket-level failure (ICMP port unreachable on a connected socket, no route, ...). */
  error(error: Error): void;
}

export interface DatagramTransport {
  /** Opens the socket; rejects when it cannot be opened (bad address, name lookup failure). */
  open(handlers: DatagramHandlers): Promise<void>;
  /** Sends one datagram; failures are reported through `handlers.error`, never thrown. */
  send(datagram: Buffer): void;
  /** Releases the socket. Idempotent. */
  close(): void;
}

/** UDP to `host:port`. The socket does not keep the process alive (a warm session is no reason to live). */
export class UdpTransport implements DatagramTransport {
  private socket: Socket | null = null;
  /** Whether `socket` finished connecting: an unconnected socket needs a port on every send. */
  private connected = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  open(handlers: DatagramHandlers): Promise<void> {
    this.close();
    const socket = createSocket({ type: 'udp4' });
    this.socket = socket;
    this.connected = false;
    socket.on('message', (datagram) => handlers.message(datagram));
    socket.on('error', (error) => handlers.error(error));
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => {
        this.close();
        reject(error);
      };
      socket.once('error', failed);
      // connect(): the kernel drops datagrams from any other source and reports ICMP errors.
      socket.connect(this.port, this.host, () => {
        socket.off('error', failed);
        socket.unref();
        if (this.socket === socket) this.connected = true;
        resolve();
      });
    });
  }

  send(datagram: Buffer): void {
    const socket = this.socket;
    // Not open, or still connecting (a retransmission racing a re-open): dropped, as a lost
    // datagram would be; the exchange's retransmission or deadline deals with it. Sending on
    // an unconnected socket without a port would throw instead.
    if (socket === null || !this.connected) {
      return;
    }
    try {
      socket.send(datagram, (error) => {
        if (error !== null && error !== undefined && this.socket === socket) {
          socket.emit('error', error);
        }
      });
    } catch (error) {
      // The socket closed or lost its connection under us: a socket-level failure, reported.
      if (this.socket === socket) socket.emit('error', error instanceof Error ? error : new Error(String(error)));
    }
  }

  close(): void {
    const socket = this.socket;
    this.socket = null;
    this.connected = false;
    if (socket !== null) {
      socket.removeAllListeners('message');
      socket.on('error', () => undefined);
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }
}
