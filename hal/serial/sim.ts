import type { SerialPort } from './index.js';

/** A serial port in memory, with test controls to type into it and read what was written. */
export class SimSerialPort implements SerialPort {
  private readonly listeners: Array<(chunk: Uint8Array) => void> = [];
  private readonly written: Uint8Array[] = [];
  private closed = false;

  constructor(readonly path = 'sim:ttyS0') {}

  write(data: string | Uint8Array): void {
    if (this.closed) return;
    this.written.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Test control: bytes arriving from the operator. */
  type(data: string | Uint8Array): void {
    if (this.closed) return;
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (const listener of this.listeners) listener(chunk);
  }

  /** Test control: everything written so far, as text. */
  output(): string {
    return Buffer.concat(this.written).toString('utf8');
  }
}
