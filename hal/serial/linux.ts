/**
 * A serial console through the `serialport` package (a tty: /dev/ttyS*, /dev/ttyUSB*, a pty).
 */
import { SerialPort as NodeSerialPort } from 'serialport';
import type { SerialPort } from './index.js';
import { HotspareError } from '../errors/hotspare-error.js';

export class LinuxSerialPort implements SerialPort {
  private readonly listeners: Array<(chunk: Uint8Array) => void> = [];
  private closing: Promise<void> | null = null;

  private constructor(
    readonly path: string,
    private readonly port: NodeSerialPort,
  ) {
    port.on('data', (chunk: Buffer) => {
      for (const listener of [...this.listeners]) {
        listener(chunk);
      }
    });
    // Write and disconnect errors surface here; the contract says writes never throw, and
    // an 'error' event without a listener would crash the process.
    port.on('error', () => undefined);
  }

  /** Opens `path` at `baud` bits per second, 8N1, no flow control. */
  static open(path: string, baud: number): Promise<LinuxSerialPort> {
    return new Promise((resolve, reject) => {
      let port: NodeSerialPort;
      try {
        port = new NodeSerialPort({ path, baudRate: baud, autoOpen: false });
      } catch (error) {
        reject(serialError(path, 'invalid options', error));
        return;
      }
      port.open((error) => {
        if (error !== null && error !== undefined) {
          reject(serialError(path, 'cannot open', error));
          return;
        }
        resolve(new LinuxSerialPort(path, port));
      });
    });
  }

  write(data: string | Uint8Array): void {
    if (this.closing !== null || !this.port.isOpen) {
      return;
    }
    this.port.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data), () => undefined);
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    if (this.closing === null) {
      this.closing = new Promise((resolve, reject) => {
        if (!this.port.isOpen) {
          resolve();
          return;
        }
        this.port.close((error) => {
          if (error !== null && error !== undefined && this.port.isOpen) {
            reject(serialError(this.path, 'cannot close', error));
            return;
          }
          resolve();
        });
      });
    }
    return this.closing;
  }
}

function serialError(path: string, operation: string, cause: unknown): HotspareError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new HotspareError(`serial ${path}: ${operation}: ${detail}`, { path, operation }, { cause });
}
