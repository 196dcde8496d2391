/**
 * RMCP header (ASF/DMTF, 4 bytes) and the IPMI v2.0 (RMCP+) session wrapper (IPMI v2.0 §13.6,
 * §13.8). Pure.
 *
 *   RMCP:    06 00 ff 07                      version 1.0, no RMCP ack, class IPMI
 *   session: 06 | payload type (bit 7 encrypted, bit 6 authenticated) | session id (LE32)
 *            | session sequence (LE32) | payload length (LE16) | payload
 *   trailer (authenticated only): ff pad up to a multiple of 4 bytes counted from the auth
 *            type | pad length | next header 07 | AuthCode (truncated HMAC with K1)
 */
import { decryptPayload, encryptPayload, integrityCode, sameCode } from './cipher-suite.js';
import type { CipherSuite } from './cipher-suite.js';
import { RmcpCodecError, need } from './codec-error.js';

export const RMCP_PORT = 623;
export const RMCP_HEADER = Buffer.from([0x06, 0x00, 0xff, 0x07]);
const AUTH_TYPE_RMCP_PLUS = 0x06;
const SESSION_HEADER_END = 16;
const NEXT_HEADER = 0x07;

export const PayloadType = {
  ipmi: 0x00,
  openSessionRequest: 0x10,
  openSessionResponse: 0x11,
  rakp1: 0x12,
  rakp2: 0x13,
  rakp3: 0x14,
  rakp4: 0x15,
} as const;

/** What protects a packet of an established session. */
export interface SessionSecurity {
  suite: CipherSuite;
  k1: Buffer;
  k2: Buffer;
}

export interface SessionPacket {
  payloadType: number;
  sessionId: number;
  sequence: number;
  /** Plain payload (decrypted when the packet was encrypted). */
  payload: Buffer;
}

/** One RMCP+ datagram. With `security`, the payload is encrypted and the packet authenticated. */
export function encodeSessionPacket(packet: SessionPacket, security?: SessionSecurity, iv?: Buffer): Buffer {
  const payload = security === undefined ? packet.payload : encryptPayload(security.k2, packet.payload, iv);
  if (payload.length > 0xffff) {
    throw new RmcpCodecError('session packet', `payload of ${payload.length} bytes is too long`);
  }
  const header = Buffer.alloc(12);
  header[0] = AUTH_TYPE_RMCP_PLUS;
  header[1] = (packet.payloadType & 0x3f) | (security === undefined ? 0 : 0xc0);
  header.writeUInt32LE(packet.sessionId >>> 0, 2);
  header.writeUInt32LE(packet.sequence >>> 0, 6);
  header.writeUInt16LE(payload.length, 10);
  if (security === undefined) {
    return Buffer.concat([RMCP_HEADER, header, payload]);
  }
  const padLength = (4 - ((header.length + payload.length + 2) % 4)) % 4;
  const covered = Buffer.concat([
    header,
    payload,
    Buffer.alloc(padLength, 0xff),
    Buffer.from([padLength, NEXT_HEADER]),
  ]);
  return Buffer.concat([RMCP_HEADER, covered, integrityCode(security.suite, security.k1, covered)]);
}

/** The session header of a datagram, before any integrity check or decryption. */
export interface RawSessionPacket {
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
  /** Payload as sent (still encrypted if `encrypted`). */
  payload: Buffer;
  /** The whole datagram, for the integrity check. */
  datagram: Buffer;
}

/**
 * Parses the RMCP header and the RMCP+ session header. Throws `RmcpCodecError` for anything
 * that is not a well-formed RMCP+ datagram (an IPMI 1.5 packet, an ASF ping, a short read).
 */
export function decodeSessionHeader(datagram: Buffer): RawSessionPacket {
  need(datagram, SESSION_HEADER_END, 'RMCP+ datagram');
  if (datagram[0] !== 0x06 || datagram[3] !== 0x07) {
    throw new RmcpCodecError(
      'RMCP header',
      `not an IPMI RMCP message (version 0x${hex(datagram[0])}, class 0x${hex(datagram[3])})`,
    );
  }
  if (datagram[4] !== AUTH_TYPE_RMCP_PLUS) {
    throw new RmcpCodecError('session header', `auth type 0x${hex(datagram[4])} is not RMCP+ (0x06)`);
  }
  const typeByte = datagram[5] ?? 0;
  if ((typeByte & 0x3f) === 0x02) {
    throw new RmcpCodecError('session header', 'OEM explicit payloads are not supported');
  }
  const length = datagram.readUInt16LE(14);
  need(datagram, SESSION_HEADER_END + length, 'RMCP+ payload');
  const authenticated = (typeByte & 0x40) !== 0;
  if (!authenticated && datagram.length !== SESSION_HEADER_END + length) {
    throw new RmcpCodecError(
      'session packet',
      `${datagram.length - SESSION_HEADER_END - length} bytes after an unauthenticated payload`,
    );
  }
  return {
    payloadType: typeByte & 0x3f,
    encrypted: (typeByte & 0x80) !== 0,
    authenticated,
    sessionId: datagram.readUInt32LE(6),
    sequence: datagram.readUInt32LE(10),
    payload: datagram.subarray(SESSION_HEADER_END, SESSION_HEADER_END + length),
    datagram,
  };
}

/**
 * Checks the integrity trailer with K1 and decrypts with K2. A packet of an established session
 * must be both authenticated and encrypted: anything less is refused (a downgrade).
 */
export function openSessionPacket(raw: RawSessionPacket, security: SessionSecurity): SessionPacket {
  if (!raw.authenticated || !raw.encrypted) {
    throw new RmcpCodecError(
      'session packet',
      `${raw.authenticated ? '' : 'unauthenticated '}${raw.encrypted ? '' : 'unencrypted '}packet in an encrypted session`.trim(),
    );
  }
  const { datagram } = raw;
  const codeLength = security.suite.integrityLength;
  const payloadEnd = SESSION_HEADER_END + raw.payload.length;
  need(datagram, payloadEnd + 2 + codeLength, 'integrity trailer');
  const codeStart = datagram.length - codeLength;
  const padLength = datagram[codeStart - 2] ?? 0;
  if (datagram[codeStart - 1] !== NEXT_HEADER || payloadEnd + padLength + 2 !== codeStart) {
    throw new RmcpCodecError('integrity trailer', 'pad length or next header does not fit the packet');
  }
  const expected = integrityCode(security.suite, security.k1, datagram.subarray(4, codeStart));
  if (!sameCode(expected, datagram.subarray(codeStart))) {
    throw new RmcpCodecError('integrity trailer', 'AuthCode does not match (wrong key or altered packet)');
  }
  return {
    payloadType: raw.payloadType,
    sessionId: raw.sessionId,
    sequence: raw.sequence,
    payload: decryptPayload(security.k2, raw.payload),
  };
}

function hex(value: number | undefined): string {
  return (value ?? 0).toString(16).padStart(2, '0');
}
