/**
 * Serial console: a byte stream to the operator (directly, or through IPMI SOL).
 *
 * Contract:
 * - `write` queues bytes; it never blocks the caller and never throws after `close`
 *   (bytes written after close are dropped).
 * - `onData` receives raw bytes as they arrive, in order.
 * - `close` is idempotent.
 */
export interface SerialPort {
  readonly path: string;
  write(data: string | Uint8Array): void;
  onData(listener: (chunk: Uint8Array) => void): void;
  close(): Promise<void>;
}
