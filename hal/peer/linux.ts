import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { Cancel, Clock } from '../clock/index.js';
import { PeerError } from '../errors/index.js';
import type { PeerBinding, PeerDatagram, PeerPathName, PeerTransport } from './index.js';

export interface LinuxPeerOptions {
  clock: Clock;
  port: number;
  bindings: readonly PeerBinding[];
  /** How long to wait before binding a path again after a failed bind. */
  retryMs?: number;
  /** Told once per path and kind of failure (not per retry), for the agent's log. */
  onBindProblem?: (path: PeerPathName, address: string, detail: string) => void;
  /** Told when a path is bound (also after retries). */
  onBound?: (path: PeerPathName, address: string) => void;
}

/** Bind errors that mean "the address is not on an interface yet": retried quietly. */
const NOT_YET = new Set(['EADDRNOTAVAIL', 'ENODEV', 'ENETDOWN']);

/**
 * UDP heartbeats over node:dgram, one socket per path bound to this member's fixed address
 * on that path (never to a wildcard or a floating address), so what is sent leaves from that
 * address and only datagrams for it arrive.
 */
export class LinuxPeerTransport implements PeerTransport {
  private readonly sockets = new Map<PeerPathName, Socket>();
  private readonly retries = new Map<PeerPathName, Cancel>();
  private readonly reported = new Map<PeerPathName, string>();
  private readonly listeners: Array<(datagram: PeerDatagram) => void> = [];
  private closed = false;

  constructor(private readonly options: LinuxPeerOptions) {
    for (const binding of options.bindings) this.bind(binding);
  }

  send(path: PeerPathName, address: string, port: number, data: Uint8Array): void {
    if (this.closed) throw new PeerError('socket', 'the peer transport is closed');
    const socket = this.sockets.get(path);
    if (socket === undefined) return;
    // A peer that is gone answers with ICMP unreachable at most; the error is not ours to raise.
    socket.send(data, port, address, () => undefined);
  }

  onDatagram(listener: (datagram: PeerDatagram) => void): void {
    this.listeners.push(listener);
  }

  bound(): PeerPathName[] {
    return [...this.sockets.keys()];
  }

  close(): void {
    this.closed = true;
    for (const cancel of this.retries.values()) cancel();
    this.retries.clear();
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    this.listeners.length = 0;
  }

  private bind(binding: PeerBinding): void {
    if (this.closed) return;
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    let bound = false;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (bound) {
        // A socket error after binding (rare: the address went away) is reported; the
        // socket is replaced so the path comes back when the address does.
        this.report(binding, `socket error ${error.code ?? error.message}; binding again`);
        this.sockets.delete(binding.path);
      }
      socket.close();
      this.retry(binding, error);
    });
    socket.on('message', (data, remote) => {
      const receivedUs = this.options.clock.nowUs();
      if (this.closed) return;
      const datagram: PeerDatagram = {
        path: binding.path,
        from: remote.address,
        fromPort: remote.port,
        data,
        receivedUs,
      };
      for (const listener of [...this.listeners]) listener(datagram);
    });
    socket.bind({ address: binding.address, port: this.options.port, exclusive: true }, () => {
      bound = true;
      if (this.closed) {
        socket.close();
        return;
      }
      this.sockets.set(binding.path, socket);
      this.reported.delete(binding.path);
      this.options.onBound?.(binding.path, binding.address);
    });
  }

  private retry(binding: PeerBinding, error: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const code = error.code ?? 'error';
    if (this.reported.get(binding.path) !== code)
      this.report(
        binding,
        NOT_YET.has(code)
          ? `${binding.address} is not on an interface yet (${code}); binding again until it is`
          : `cannot bind ${binding.address}:${this.options.port} (${code}: ${error.message}); trying again`,
      );
    this.reported.set(binding.path, code);
    const clock = this.options.clock;
    const cancel = clock.at(clock.nowUs() + (this.options.retryMs ?? 1000) * 1000, () => {
      this.retries.delete(binding.path);
      this.bind(binding);
    });
    this.retries.set(binding.path, cancel);
  }

  private report(binding: PeerBinding, detail: string): void {
    this.options.onBindProblem?.(binding.path, binding.address, detail);
  }
}
