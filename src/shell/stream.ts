/**
 * The byte stream a shell session talks over: the serial console or a control-socket
 * connection. The session never waits on a write; it waits on `drained()` before it takes
 * the next command, so a terminal slower than the agent (115200 baud is ~11 KB/s) sees a
 * bounded queue rather than an unbounded one.
 */
import type { Socket } from 'node:net';
import type { SerialPort } from '../../hal/serial/index.js';

export interface ShellStream {
  write(text: string): void;
  onData(listener: (chunk: Uint8Array) => void): void;
  /** Resolves once what was written has (about) left; never rejects. */
  drained(): Promise<void>;
  /** Ends the connection; null for a console, which cannot be hung up. */
  readonly end: (() => void) | null;
}

/**
 * A serial port, paced at its line rate: 10 bits a byte (8N1). The port's own queue is
 * not observable through the SerialPort contract, so the pace is computed.
 */
export function serialStream(
  port: SerialPort,
  baud: number,
  nowMs: () => number = () => performance.now(),
): ShellStream {
  const bytesPerMs = baud / 10 / 1000;
  let freeAtMs = 0;
  return {
    write(text) {
      const now = nowMs();
      freeAtMs = Math.max(freeAtMs, now) + Buffer.byteLength(text, 'utf8') / bytesPerMs;
      port.write(text);
    },
    onData: (listener) => port.onData(listener),
    drained() {
      const wait = freeAtMs - nowMs();
      return wait <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
    },
    end: null,
  };
}

/** A control-socket connection after the `shell` request: raw bytes both ways. */
export function socketStream(socket: Socket): ShellStream {
  return {
    write(text) {
      if (!socket.destroyed && socket.writable) socket.write(text);
    },
    onData: (listener) => socket.on('data', (chunk: Buffer) => listener(chunk)),
    drained() {
      if (socket.destroyed || !socket.writableNeedDrain) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.once('drain', done);
        socket.once('close', done);
      });
    },
    end: () => socket.end(),
  };
}
