/**
 * ICMPv4 echo packets: building requests and parsing what a raw IPv4 socket delivers.
 * Pure functions, no I/O. The parser never throws: anything malformed yields null.
 */

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const ICMP_HEADER_BYTES = 8;
const IPV4_MIN_HEADER_BYTES = 20;
const IPPROTO_ICMP = 1;

export interface ParsedEchoReply {
  /** Source address from the IP header, dotted quad. */
  from: string;
  /** Destination address from the IP header, dotted quad. */
  to: string;
  identifier: number;
  sequence: number;
  payload: Buffer;
}

/** The Internet checksum (RFC 1071) of `data[start, end)`. */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) {
    sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  }
  if (i < end) {
    sum += (data[i] ?? 0) << 8;
  }
  while (sum > 0xffff) {
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

function checkUint16(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`${name} must be an integer in 0..65535, got ${value}`);
  }
}

/** An ICMP echo request (type 8, code 0) with a valid checksum, without IP header. */
export function buildEchoRequest(
  identifier: number,
  sequence: number,
  payload: Uint8Array = new Uint8Array(0),
): Buffer {
  checkUint16('identifier', identifier);
  checkUint16('sequence', sequence);
  const packet = Buffer.alloc(ICMP_HEADER_BYTES + payload.length);
  packet.writeUInt8(ICMP_ECHO_REQUEST, 0);
  packet.writeUInt8(0, 1);
  packet.writeUInt16BE(0, 2);
  packet.writeUInt16BE(identifier, 4);
  packet.writeUInt16BE(sequence, 6);
  packet.set(payload, ICMP_HEADER_BYTES);
  packet.writeUInt16BE(internetChecksum(packet), 2);
  return packet;
}

/** Parses a dotted-quad IPv4 address into 4 bytes, or null. */
export function parseIpv4(address: string): Buffer | null {
  const parts = address.split('.');
  if (parts.length !== 4) {
    return null;
  }
  const bytes = Buffer.alloc(4);
  for (let i = 0; i < 4; i += 1) {
    const part = parts[i] ?? '';
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) {
      return null;
    }
    const value = Number(part);
    if (value > 255) {
      return null;
    }
    bytes[i] = value;
  }
  return bytes;
}

function formatIpv4(data: Buffer, offset: number): string {
  return `${data[offset] ?? 0}.${data[offset + 1] ?? 0}.${data[offset + 2] ?? 0}.${data[offset + 3] ?? 0}`;
}

/**
 * A 20-byte IPv4 header for an ICMP packet sent with IP_HDRINCL. Linux fills in the total
 * length and the header checksum (and the identification, left 0); we set the source.
 */
export function buildIpv4Header(source: string, destination: string, ttl = 64): Buffer {
  const src = parseIpv4(source);
  const dst = parseIpv4(destination);
  if (src === null || dst === null) {
    throw new RangeError(`not an IPv4 address: ${src === null ? source : destination}`);
  }
  const header = Buffer.alloc(IPV4_MIN_HEADER_BYTES);
  header.writeUInt8(0x45, 0);
  header.writeUInt8(ttl, 8);
  header.writeUInt8(IPPROTO_ICMP, 9);
  src.copy(header, 12);
  dst.copy(header, 16);
  header.writeUInt16BE(internetChecksum(header), 10);
  return header;
}

/**
 * Parses one datagram from a raw IPv4 ICMP socket (IP header included). Returns the echo
 * reply, or null for anything that is not a well-formed ICMP echo reply: truncated or
 * inconsistent lengths, bad header or ICMP checksum, not ICMP, a fragment, another type or code.
 */
export function parseEchoReply(buffer: Buffer): ParsedEchoReply | null {
  if (buffer.length < IPV4_MIN_HEADER_BYTES) {
    return null;
  }
  const versionIhl = buffer.readUInt8(0);
  if (versionIhl >> 4 !== 4) {
    return null;
  }
  const headerBytes = (versionIhl & 0x0f) * 4;
  if (headerBytes < IPV4_MIN_HEADER_BYTES || headerBytes > buffer.length) {
    return null;
  }
  const totalLength = buffer.readUInt16BE(2);
  if (totalLength < headerBytes + ICMP_HEADER_BYTES || totalLength > buffer.length) {
    return null;
  }
  const fragment = buffer.readUInt16BE(6);
  if ((fragment & 0x3fff) !== 0) {
    return null;
  }
  if (buffer.readUInt8(9) !== IPPROTO_ICMP) {
    return null;
  }
  if (internetChecksum(buffer, 0, headerBytes) !== 0) {
    return null;
  }
  const icmp = buffer.subarray(headerBytes, totalLength);
  if (icmp.readUInt8(0) !== ICMP_ECHO_REPLY || icmp.readUInt8(1) !== 0) {
    return null;
  }
  if (internetChecksum(icmp) !== 0) {
    return null;
  }
  return {
    from: formatIpv4(buffer, 12),
    to: formatIpv4(buffer, 16),
    identifier: icmp.readUInt16BE(4),
    sequence: icmp.readUInt16BE(6),
    payload: Buffer.from(icmp.subarray(ICMP_HEADER_BYTES)),
  };
}
