/**
 * The peer heartbeat frame (README "Peer protocol"): pure encode and decode. Big-endian:
 *
 *   0  magic "HSPB" (4)      4  major version (1)     5  minor version (1)
 *   6  path: 0 lan, 1 mgmt   7  flags: bit 0 holds the primary address, bit 1 the monitor's
 *   8  nonce (16): random per boot of the sender
 *  24  counter (u64): per frame of this boot, from 1    32  epoch (u64)
 *  40  sender, receiver, phase, role: each one length byte then ASCII
 *  end HMAC-SHA256 (32) over every byte before it
 *
 * Nothing in it is absolute time: receivers judge freshness by the counter and their own
 * clock. A receiver refuses another major version before looking further (its layout may
 * differ); a minor version may only append before the tag, and is read as this one.
 */
import type { PersistedRole } from '../../hal/store/index.js';
import type { PeerPath, Phase } from '../role/types.js';
import { TAG_BYTES } from './key.js';
import type { PeerKey } from './key.js';

export const MAGIC = Buffer.from('HSPB', 'latin1');
export const MAJOR = 1;
export const MINOR = 0;
export const NONCE_BYTES = 16;
const HEADER_BYTES = 40;
const MAX_NAME = 32;
/** Longer is not a frame of this version: at most header, four short strings, the tag. */
export const MAX_FRAME_BYTES = HEADER_BYTES + 4 * (1 + MAX_NAME) + TAG_BYTES;

const PHASE_LIST = [
  'booting',
  'boot-wait',
  'checking-uplink',
  'checking-primary',
  'checking-monitor',
  'rechecking-primary',
  'primary',
  'monitor',
  'confirming',
  'spare',
  'spare-checking',
  'link-down',
  'halted',
] as const satisfies readonly Phase[];
// Every phase must be sendable: this fails to compile when a phase is added but not listed.
const PHASES_COMPLETE: Exclude<Phase, (typeof PHASE_LIST)[number]> extends never ? true : never = true;
const PHASES: ReadonlySet<string> = new Set<string>(PHASE_LIST);
const ROLES: ReadonlySet<string> = new Set<PersistedRole>(['primary', 'monitor', 'spare']);

export interface PeerFrame {
  path: PeerPath;
  from: string;
  to: string;
  nonce: Uint8Array;
  counter: number;
  phase: Phase;
  role: PersistedRole;
  epoch: number;
  holdsPrimary: boolean;
  holdsMonitor: boolean;
}

/** Why a datagram was dropped; also the counter names in the status. */
export type DropReason =
  | 'malformed'
  | 'version'
  | 'unauthenticated'
  | 'stranger'
  | 'not-member'
  | 'not-for-us'
  | 'wrong-path'
  | 'replay'
  | 'old-boot'
  | 'old-epoch';

/** A zero for every drop reason: the status's counters before anything was dropped. */
export function noDrops(): Record<DropReason, number> {
  return {
    malformed: 0,
    version: 0,
    unauthenticated: 0,
    stranger: 0,
    'not-member': 0,
    'not-for-us': 0,
    'wrong-path': 0,
    replay: 0,
    'old-boot': 0,
    'old-epoch': 0,
  };
}

export type Decoded = { ok: true; frame: PeerFrame; minor: number } | { ok: false; reason: DropReason; detail: string };

export function encodeFrame(frame: PeerFrame, key: PeerKey): Buffer {
  if (PHASES_COMPLETE !== true) throw new Error('unreachable');
  if (frame.nonce.length !== NONCE_BYTES) throw new RangeError(`a nonce is ${NONCE_BYTES} bytes`);
  for (const v of [frame.counter, frame.epoch])
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`counter and epoch are safe integers, got ${v}`);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[4] = MAJOR;
  header[5] = MINOR;
  header[6] = frame.path === 'lan' ? 0 : 1;
  header[7] = (frame.holdsPrimary ? 1 : 0) | (frame.holdsMonitor ? 2 : 0);
  Buffer.from(frame.nonce).copy(header, 8);
  header.writeBigUInt64BE(BigInt(frame.counter), 24);
  header.writeBigUInt64BE(BigInt(frame.epoch), 32);
  const body = Buffer.concat([header, ...[frame.from, frame.to, frame.phase, frame.role].map(short)]);
  return Buffer.concat([body, key.tag(body)]);
}

/** One frame string: a length byte, then 1-MAX_NAME printable ASCII characters (the lease frame uses it too). */
export function short(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length < 1 || bytes.length > MAX_NAME || !/^[\x21-\x7e]+$/.test(text))
    throw new RangeError(`a frame string is 1-${MAX_NAME} printable ASCII characters, got ${JSON.stringify(text)}`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** Decodes and authenticates one datagram. Never throws: anything wrong is a reason to drop. */
export function decodeFrame(data: Uint8Array, key: PeerKey): Decoded {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 6 || !buf.subarray(0, 4).equals(MAGIC)) return drop('malformed', 'not a hotspare peer frame');
  const major = buf[4] ?? 0;
  const minor = buf[5] ?? 0;
  if (major !== MAJOR)
    return drop('version', `protocol version ${major}.${minor}; this agent speaks ${MAJOR}.${MINOR}`);
  if (buf.length < HEADER_BYTES + 4 * 2 + TAG_BYTES || buf.length > MAX_FRAME_BYTES + 256)
    return drop('malformed', `${buf.length} bytes is not a frame length`);
  const body = buf.subarray(0, buf.length - TAG_BYTES);
  if (!key.verify(body, buf.subarray(buf.length - TAG_BYTES)))
    return drop('unauthenticated', 'the HMAC does not verify (another key, or altered on the way)');
  // Authenticated from here on; what is wrong now came from a member with the key.
  const pathByte = buf[6];
  const flags = buf[7] ?? 0xff;
  if (pathByte !== 0 && pathByte !== 1) return drop('malformed', `unknown path ${pathByte}`);
  if ((flags & ~3) !== 0) return drop('malformed', `unknown flags ${flags}`);
  const counter = buf.readBigUInt64BE(24);
  const epoch = buf.readBigUInt64BE(32);
  if (counter > BigInt(Number.MAX_SAFE_INTEGER) || epoch > BigInt(Number.MAX_SAFE_INTEGER))
    return drop('malformed', 'counter or epoch out of range');
  const strings: string[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < 4; i++) {
    const length = body[at];
    if (length === undefined || length < 1 || length > MAX_NAME || at + 1 + length > body.length)
      return drop('malformed', 'a string overruns the frame');
    const text = body.toString('latin1', at + 1, at + 1 + length);
    if (!/^[\x21-\x7e]+$/.test(text)) return drop('malformed', 'a string is not printable ASCII');
    strings.push(text);
    at += 1 + length;
  }
  // A later minor version may append fields before the tag; this one does not read them.
  if (minor === MINOR && at !== body.length) return drop('malformed', 'trailing bytes');
  const [from = '', to = '', phase = '', role = ''] = strings;
  if (!PHASES.has(phase)) return drop('malformed', `unknown phase ${JSON.stringify(phase)}`);
  if (!ROLES.has(role)) return drop('malformed', `unknown role ${JSON.stringify(role)}`);
  return {
    ok: true,
    minor,
    frame: {
      path: pathByte === 0 ? 'lan' : 'mgmt',
      from,
      to,
      nonce: Uint8Array.from(buf.subarray(8, 8 + NONCE_BYTES)),
      counter: Number(counter),
      epoch: Number(epoch),
      phase: phase as Phase,
      role: role as PersistedRole,
      holdsPrimary: (flags & 1) !== 0,
      holdsMonitor: (flags & 2) !== 0,
    },
  };
}

function drop(reason: DropReason, detail: string): Decoded {
  return { ok: false, reason, detail };
}
