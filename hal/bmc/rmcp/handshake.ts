/**
 * RMCP+ session establishment payloads (IPMI v2.0 §13.17-13.23) and their key-exchange codes.
 * Pure. "Console" is the remote console (us, the spec's m), "BMC" the managed system (c).
 *
 *   Open Session Request  -> Open Session Response   (algorithms, session ids)
 *   RAKP 1 (Rm, role, user) -> RAKP 2 (Rc, GUID, HMAC_Kuid)   the BMC proves it knows the password
 *   RAKP 3 (HMAC_Kuid)    -> RAKP 4 (HMAC_SIK)                 we prove it; both derive SIK
 */
import { hmac } from './cipher-suite.js';
import type { CipherSuite } from './cipher-suite.js';
import { RmcpCodecError, need } from './codec-error.js';

export const Privilege = { callback: 1, user: 2, operator: 3, administrator: 4 } as const;
/** RAKP 1 role bit: look the user up by name only (the usual choice; ipmitool's default). */
export const NAME_ONLY_LOOKUP = 0x10;
export const MAX_USERNAME_BYTES = 16;
/** Kuid is the password padded with zeros to 20 bytes. */
export const MAX_PASSWORD_BYTES = 20;

/** RMCP+ status codes (§13.24), for messages. */
const STATUS_TEXT: ReadonlyMap<number, string> = new Map([
  [0x01, 'insufficient resources to create a session'],
  [0x02, 'invalid session id'],
  [0x03, 'invalid payload type'],
  [0x04, 'invalid authentication algorithm'],
  [0x05, 'invalid integrity algorithm'],
  [0x06, 'no matching authentication payload'],
  [0x07, 'no matching integrity payload'],
  [0x08, 'inactive session id'],
  [0x09, 'invalid role'],
  [0x0a, 'unauthorized role or privilege level requested'],
  [0x0b, 'insufficient resources to create a session at the requested role'],
  [0x0c, 'invalid name length'],
  [0x0d, 'unauthorized name'],
  [0x0e, 'unauthorized GUID'],
  [0x0f, 'invalid integrity check value'],
  [0x10, 'invalid confidentiality algorithm'],
  [0x11, 'no cipher suite match with proposed security algorithms'],
  [0x12, 'illegal or unrecognized parameter'],
]);

export function statusText(code: number): string {
  return `${STATUS_TEXT.get(code) ?? 'unknown status'} (0x${code.toString(16).padStart(2, '0')})`;
}

/** Statuses that mean "these credentials or this role are not accepted" (the rest: refused). */
export function isAuthStatus(code: number): boolean {
  return code >= 0x09 && code <= 0x0f && code !== 0x0b;
}

export interface OpenSessionRequest {
  tag: number;
  /** Requested maximum privilege (0 = the highest the algorithms allow). */
  privilege: number;
  consoleSessionId: number;
  suite: CipherSuite;
}

export function encodeOpenSessionRequest(request: OpenSessionRequest): Buffer {
  const out = Buffer.alloc(32);
  out[0] = request.tag;
  out[1] = request.privilege;
  out.writeUInt32LE(request.consoleSessionId >>> 0, 4);
  const algorithms = [
    request.suite.authAlgorithm,
    request.suite.integrityAlgorithm,
    request.suite.confidentialityAlgorithm,
  ];
  algorithms.forEach((algorithm, type) => {
    const at = 8 + type * 8;
    out[at] = type;
    out[at + 3] = 8;
    out[at + 4] = algorithm;
  });
  return out;
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  privilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
  authAlgorithm: number;
  integrityAlgorithm: number;
  confidentialityAlgorithm: number;
}

/**
 * A non-zero status may come with a short body: 8 bytes, or only tag and status (ipmi_sim
 * refusing a session when all its slots are taken); the missing fields then read as 0 or -1.
 */
export function decodeOpenSessionResponse(payload: Buffer): OpenSessionResponse {
  need(payload, 2, 'Open Session Response');
  const status = payload[1] ?? 0;
  if (status !== 0) {
    return {
      tag: payload[0] ?? 0,
      status,
      privilege: payload[2] ?? 0,
      consoleSessionId: payload.length >= 8 ? payload.readUInt32LE(4) : 0,
      bmcSessionId: 0,
      authAlgorithm: -1,
      integrityAlgorithm: -1,
      confidentialityAlgorithm: -1,
    };
  }
  need(payload, 36, 'Open Session Response');
  const head = { tag: payload[0] ?? 0, status, privilege: payload[2] ?? 0, consoleSessionId: payload.readUInt32LE(4) };
  const algorithm = (type: number): number => {
    const at = 12 + type * 8;
    if (payload[at] !== type) {
      throw new RmcpCodecError('Open Session Response', `algorithm payload ${type} has type ${String(payload[at])}`);
    }
    return (payload[at + 4] ?? 0) & 0x3f;
  };
  return {
    ...head,
    bmcSessionId: payload.readUInt32LE(8),
    authAlgorithm: algorithm(0),
    integrityAlgorithm: algorithm(1),
    confidentialityAlgorithm: algorithm(2),
  };
}

export interface Rakp1 {
  tag: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  /** Role byte as sent: privilege | NAME_ONLY_LOOKUP. It enters every code below as is. */
  role: number;
  username: Buffer;
}

export function encodeRakp1(message: Rakp1): Buffer {
  if (message.consoleRandom.length !== 16) {
    throw new RmcpCodecError('RAKP 1', 'the console random number must be 16 bytes');
  }
  if (message.username.length > MAX_USERNAME_BYTES) {
    throw new RmcpCodecError('RAKP 1', `user names are at most ${MAX_USERNAME_BYTES} bytes`);
  }
  const out = Buffer.alloc(28 + message.username.length);
  out[0] = message.tag;
  out.writeUInt32LE(message.bmcSessionId >>> 0, 4);
  message.consoleRandom.copy(out, 8);
  out[24] = message.role;
  out[27] = message.username.length;
  message.username.copy(out, 28);
  return out;
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  keyExchangeCode: Buffer;
}

export function decodeRakp2(payload: Buffer): Rakp2 {
  need(payload, 8, 'RAKP 2');
  const status = payload[1] ?? 0;
  const head = { tag: payload[0] ?? 0, status, consoleSessionId: payload.readUInt32LE(4) };
  if (status !== 0) {
    return { ...head, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), keyExchangeCode: Buffer.alloc(0) };
  }
  need(payload, 40, 'RAKP 2');
  return {
    ...head,
    bmcRandom: payload.subarray(8, 24),
    bmcGuid: payload.subarray(24, 40),
    keyExchangeCode: payload.subarray(40),
  };
}

/** Everything both sides know after RAKP 2; the input of the three codes. */
export interface Exchange {
  suite: CipherSuite;
  kuid: Buffer;
  consoleSessionId: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  role: number;
  username: Buffer;
}

function le32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0, 0);
  return out;
}

/** RAKP 2 code: HMAC_Kuid(SIDm | SIDc | Rm | Rc | GUIDc | RoleM | ULengthM | UNameM). */
export function rakp2Code(x: Exchange): Buffer {
  return hmac(
    x.suite.hash,
    x.kuid,
    le32(x.consoleSessionId),
    le32(x.bmcSessionId),
    x.consoleRandom,
    x.bmcRandom,
    x.bmcGuid,
    Buffer.from([x.role, x.username.length]),
    x.username,
  );
}

/** RAKP 3 code: HMAC_Kuid(Rc | SIDm | RoleM | ULengthM | UNameM). */
export function rakp3Code(x: Exchange): Buffer {
  return hmac(
    x.suite.hash,
    x.kuid,
    x.bmcRandom,
    le32(x.consoleSessionId),
    Buffer.from([x.role, x.username.length]),
    x.username,
  );
}

/** RAKP 4 integrity check value: HMAC_SIK(Rm | SIDc | GUIDc), truncated. */
export function rakp4Code(x: Exchange, sik: Buffer): Buffer {
  return hmac(x.suite.hash, sik, x.consoleRandom, le32(x.bmcSessionId), x.bmcGuid).subarray(0, x.suite.rakp4Length);
}

export interface Rakp3 {
  tag: number;
  status: number;
  bmcSessionId: number;
  keyExchangeCode: Buffer;
}

export function encodeRakp3(message: Rakp3): Buffer {
  const out = Buffer.alloc(8 + message.keyExchangeCode.length);
  out[0] = message.tag;
  out[1] = message.status;
  out.writeUInt32LE(message.bmcSessionId >>> 0, 4);
  message.keyExchangeCode.copy(out, 8);
  return out;
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  integrityCheck: Buffer;
}

export function decodeRakp4(payload: Buffer): Rakp4 {
  need(payload, 8, 'RAKP 4');
  return {
    tag: payload[0] ?? 0,
    status: payload[1] ?? 0,
    consoleSessionId: payload.readUInt32LE(4),
    integrityCheck: payload.subarray(8),
  };
}

/** Kuid: the password, at most 20 bytes, zero-padded to 20. */
export function kuidOf(password: Buffer): Buffer {
  if (password.length > MAX_PASSWORD_BYTES) {
    throw new RmcpCodecError('password', `longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  const out = Buffer.alloc(MAX_PASSWORD_BYTES);
  password.copy(out);
  return out;
}
