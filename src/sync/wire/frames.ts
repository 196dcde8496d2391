/**
 * Framing of the sync protocol: every frame is one type byte, a 4-byte big-endian length and
 * the payload. `H`: a JSON header (at most MAX_HEADER_BYTES). `D`: raw file bytes (1 to
 * MAX_DATA_BYTES). A frame that breaks these rules, or a connection that ends inside a frame,
 * is a protocol error: the connection is dropped. Reading pulls from the socket only as far
 * as needed, so memory stays at about one frame whatever the peer sends.
 */
import type { Writable } from 'node:stream';
import { SyncError } from '../../../hal/errors/index.js';

export const MAX_HEADER_BYTES = 256 * 1024;
export const MAX_DATA_BYTES = 1024 * 1024;
const HEADER = 0x48;
const DATA = 0x44;
const PREFIX = 5;

export type Frame = { kind: 'header'; value: unknown } | { kind: 'data'; bytes: Buffer };

export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  /** `peer`: who is on the other side, for messages. */
  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly peer: string,
  ) {}

  /** The next frame, or null when the connection ended cleanly between frames. */
  async next(): Promise<Frame | null> {
    if (!(await this.fill(PREFIX))) {
      if (this.length === 0) return null;
      throw this.problem('the connection ended inside a frame');
    }
    const prefix = this.take(PREFIX);
    const type = prefix[0];
    const length = prefix.readUInt32BE(1);
    if (type === HEADER) {
      if (length > MAX_HEADER_BYTES)
        throw this.problem(`a header of ${length} bytes exceeds the limit of ${MAX_HEADER_BYTES}`);
    } else if (type === DATA) {
      if (length === 0 || length > MAX_DATA_BYTES)
        throw this.problem(`a data frame of ${length} bytes is outside 1..${MAX_DATA_BYTES}`);
    } else {
      throw this.problem(`unknown frame type 0x${(type ?? 0).toString(16)}`);
    }
    if (!(await this.fill(length))) throw this.problem('the connection ended inside a frame');
    const payload = this.take(length);
    if (type === DATA) return { kind: 'data', bytes: payload };
    try {
      return { kind: 'header', value: JSON.parse(payload.toString('utf8')) as unknown };
    } catch {
      throw this.problem('a header is not valid JSON');
    }
  }

  /** The next frame, which must be a header. */
  async header(): Promise<unknown> {
    const frame = await this.next();
    if (frame === null) throw this.problem('the connection ended where a header was expected');
    if (frame.kind !== 'header') throw this.problem('file data arrived where a header was expected');
    return frame.value;
  }

  private problem(detail: string): SyncError {
    return new SyncError('protocol', `${this.peer}: ${detail}; connection dropped`);
  }

  private async fill(wanted: number): Promise<boolean> {
    while (this.length < wanted) {
      const result = await this.source.next();
      if (result.done === true) return false;
      const value: unknown = result.value;
      const chunk = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    return true;
  }

  private take(count: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= count) {
      const out = first.subarray(0, count);
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      this.length -= count;
      return out;
    }
    const all = Buffer.concat(this.chunks);
    const out = all.subarray(0, count);
    const rest = all.subarray(count);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }
}

export class FrameWriter {
  constructor(
    private readonly sink: Writable,
    private readonly peer: string,
  ) {}

  async header(value: object): Promise<void> {
    const json = Buffer.from(JSON.stringify(value), 'utf8');
    if (json.length > MAX_HEADER_BYTES)
      throw new SyncError('protocol', `a header of ${json.length} bytes exceeds the limit of ${MAX_HEADER_BYTES}`);
    await this.frame(HEADER, json);
  }

  async data(bytes: Buffer): Promise<void> {
    for (let offset = 0; offset < bytes.length; offset += MAX_DATA_BYTES) {
      await this.frame(DATA, bytes.subarray(offset, Math.min(bytes.length, offset + MAX_DATA_BYTES)));
    }
  }

  /** Several frames in one write (small files: header, data, end). */
  async frames(parts: ReadonlyArray<{ header: object } | { data: Buffer }>): Promise<void> {
    const buffers: Buffer[] = [];
    for (const part of parts) {
      if ('header' in part) {
        const json = Buffer.from(JSON.stringify(part.header), 'utf8');
        if (json.length > MAX_HEADER_BYTES)
          throw new SyncError('protocol', `a header of ${json.length} bytes exceeds the limit of ${MAX_HEADER_BYTES}`);
        buffers.push(prefixOf(HEADER, json.length), json);
      } else {
        for (let offset = 0; offset < part.data.length; offset += MAX_DATA_BYTES) {
          const piece = part.data.subarray(offset, Math.min(part.data.length, offset + MAX_DATA_BYTES));
          buffers.push(prefixOf(DATA, piece.length), piece);
        }
      }
    }
    await this.write(buffers);
  }

  private frame(type: number, payload: Buffer): Promise<void> {
    return this.write([prefixOf(type, payload.length), payload]);
  }

  private async write(buffers: readonly Buffer[]): Promise<void> {
    if (this.sink.destroyed || this.sink.writableEnded)
      throw new SyncError('connect', `${this.peer}: the connection is closed`);
    this.sink.cork();
    let more = true;
    for (const buffer of buffers) more = this.sink.write(buffer);
    this.sink.uncork();
    if (!more) await drained(this.sink, this.peer);
  }
}

function prefixOf(type: number, length: number): Buffer {
  const prefix = Buffer.allocUnsafe(PREFIX);
  prefix[0] = type;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/** Waits for `drain`; rejects if the stream closes or fails first. */
function drained(sink: Writable, peer: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      sink.off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new SyncError('connect', `${peer}: the connection closed while sending`));
    const onError = (error: Error): void => done(error);
    sink.on('drain', onDrain);
    sink.on('close', onClose);
    sink.on('error', onError);
  });
}
