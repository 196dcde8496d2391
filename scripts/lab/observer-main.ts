/**
 * The lab's observer: runs in the observer namespace, sends an ICMP echo request to the target
 * every `--interval-ms` (default 1) through a raw socket and prints one JSON line per echo
 * reply: {"t": receive time µs (system monotonic clock), "n": request count, "ttl", "rtt": µs}.
 * Once a second it prints {"sent": count, "t": ...}. Ends on stdin EOF, SIGTERM or SIGINT.
 *
 *   node observer-main.js --target 198.18.0.10 [--interval-ms 1]
 */
import { createRequire } from 'node:module';

interface RawSocket {
  on(event: 'message', listener: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  send(
    buffer: Buffer,
    offset: number,
    length: number,
    address: string,
    afterSend: (error: Error | null, bytes: number) => void,
  ): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  createChecksum(buffer: Buffer): number;
  writeChecksum(buffer: Buffer, offset: number, checksum: number): void;
  Protocol: { ICMP: number };
  AddressFamily: { IPv4: number };
}

const require = createRequire(import.meta.url);
const raw = require('raw-socket') as RawSocketModule;

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const target = option('target', '198.18.0.10');
const intervalMs = Number(option('interval-ms', '1'));
const identifier = process.pid & 0xffff;
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

const socket = raw.createSocket({
  protocol: raw.Protocol.ICMP,
  addressFamily: raw.AddressFamily.IPv4,
  bufferSize: 1 << 20,
});
/** Send time and running count per 16-bit sequence number. */
const sentAt = new Float64Array(65536);
const sentCount = new Float64Array(65536);
let sent = 0;
let errors = 0;

function request(sequence: number): Buffer {
  const packet = Buffer.alloc(16);
  packet.writeUInt8(8, 0);
  packet.writeUInt8(0, 1);
  packet.writeUInt16BE(identifier, 4);
  packet.writeUInt16BE(sequence, 6);
  packet.write('hotspare', 8, 'latin1');
  raw.writeChecksum(packet, 2, raw.createChecksum(packet));
  return packet;
}

socket.on('message', (buffer, source) => {
  const t = nowUs();
  if (source !== target || buffer.length < 28) {
    return;
  }
  const ihl = ((buffer[0] ?? 0) & 0x0f) * 4;
  if (buffer.length < ihl + 8 || buffer[ihl] !== 0 || buffer[ihl + 1] !== 0) {
    return;
  }
  if (buffer.readUInt16BE(ihl + 4) !== identifier) {
    return;
  }
  const sequence = buffer.readUInt16BE(ihl + 6);
  const ttl = buffer[8] ?? 0;
  process.stdout.write(
    `{"t":${t},"n":${sentCount[sequence] ?? 0},"ttl":${ttl},"rtt":${t - (sentAt[sequence] ?? t)}}\n`,
  );
});

socket.on('error', (error) => {
  process.stderr.write(`observer socket error: ${error.message}\n`);
});

const sender = setInterval(() => {
  const sequence = sent & 0xffff;
  sentAt[sequence] = nowUs();
  sentCount[sequence] = sent;
  sent += 1;
  const packet = request(sequence);
  socket.send(packet, 0, packet.length, target, (error) => {
    if (error !== null) {
      errors += 1;
    }
  });
}, intervalMs);

const reporter = setInterval(() => {
  process.stdout.write(`{"sent":${sent},"errors":${errors},"t":${nowUs()}}\n`);
}, 1000);

function stop(): void {
  clearInterval(sender);
  clearInterval(reporter);
  socket.close();
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
process.stdout.write(`{"ready":true,"target":"${target}","identifier":${identifier},"t":${nowUs()}}\n`);
