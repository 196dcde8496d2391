/**
 * The lease frame (README "Takeover gates"), on the peer port beside the heartbeat, under
 * the same key. Big-endian:
 *
 *   0  magic "HSPL" (4)   4  major (1)   5  minor (1)   6  path: 0 lan, 1 mgmt
 *   7  kind: 1 request, 2 grant, 3 refusal, 4 release
 *   8  nonce (16): random per boot of the sender    24  counter (u64), per frame of this boot
 *  32  epoch (u64)        40  seq (u64): the request this answers (0 in a release)
 *  48  sender, receiver: each one length byte then ASCII
 *  end HMAC-SHA256 (32) over every byte before it
 *
 * No absolute time: the holder keeps each request's send time itself.
 */
import type { PeerPath } from '../role/types.js';
import { TAG_BYTES } from '../peer/key.js';
import type { PeerKey } from '../peer/key.js';
import { NONCE_BYTES, short } from '../peer/frame.js';

export const LEASE_MAGIC = Buffer.from('HSPL', 'latin1');
const MAJOR = 1;
const MINOR = 0;
const HEADER_BYTES = 48;
const MAX_NAME = 32;

export type LeaseKind = 'request' | 'grant' | 'refusal' | 'release';
const KINDS: readonly LeaseKind[] = ['request', 'grant', 'refusal', 'release'];

export interface LeaseFrame {
  path: PeerPath;
  kind: LeaseKind;
  from: string;
  to: string;
  nonce: Uint8Array;
  counter: number;
  epoch: number;
  seq: number;
}

export type LeaseDecoded = { ok: true; frame: LeaseFrame } | { ok: false; reason: string };

/** True when `data` is meant as a lease frame (the heartbeat leaves it to the lease service). */
export function isLeaseDatagram(data: Uint8Array): boolean {
  return data.length >= 4 && Buffer.from(data.buffer, data.byteOffset, 4).equals(LEASE_MAGIC);
}

export function encodeLeaseFrame(frame: LeaseFrame, key: PeerKey): Buffer {
  if (frame.nonce.length !== NONCE_BYTES) throw new RangeError(`a nonce is ${NONCE_BYTES} bytes`);
  for (const v of [frame.counter, frame.epoch, frame.seq])
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`counter, epoch and seq are safe integers, got ${v}`);
  const header = Buffer.alloc(HEADER_BYTES);
  LEASE_MAGIC.copy(header, 0);
  header[4] = MAJOR;
  header[5] = MINOR;
  header[6] = frame.path === 'lan' ? 0 : 1;
  header[7] = KINDS.indexOf(frame.kind) + 1;
  Buffer.from(frame.nonce).copy(header, 8);
  header.writeBigUInt64BE(BigInt(frame.counter), 24);
  header.writeBigUInt64BE(BigInt(frame.epoch), 32);
  header.writeBigUInt64BE(BigInt(frame.seq), 40);
  const body = Buffer.concat([header, short(frame.from), short(frame.to)]);
  return Buffer.concat([body, key.tag(body)]);
}

/** Decodes and authenticates one datagram. Never throws: anything wrong is a reason to drop. */
export function decodeLeaseFrame(data: Uint8Array, key: PeerKey): LeaseDecoded {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!isLeaseDatagram(buf)) return { ok: false, reason: 'not a lease frame' };
  if (buf[4] !== MAJOR) return { ok: false, reason: `lease protocol version ${buf[4]}; this agent speaks ${MAJOR}` };
  if (buf.length < HEADER_BYTES + 4 + TAG_BYTES || buf.length > HEADER_BYTES + 2 * (1 + MAX_NAME) + TAG_BYTES + 256)
    return { ok: false, reason: `${buf.length} bytes is not a lease frame length` };
  const body = buf.subarray(0, buf.length - TAG_BYTES);
  if (!key.verify(body, buf.subarray(buf.length - TAG_BYTES)))
    return { ok: false, reason: 'the HMAC does not verify (another key, or altered on the way)' };
  const path = buf[6];
  const kind = KINDS[(buf[7] ?? 0) - 1];
  if ((path !== 0 && path !== 1) || kind === undefined) return { ok: false, reason: 'unknown path or kind' };
  const counter = buf.readBigUInt64BE(24);
  const epoch = buf.readBigUInt64BE(32);
  const seq = buf.readBigUInt64BE(40);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  if (counter > max || epoch > max || seq > max) return { ok: false, reason: 'counter, epoch or seq out of range' };
  const strings: string[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < 2; i++) {
    const length = body[at];
    if (length === undefined || length < 1 || length > MAX_NAME || at + 1 + length > body.length)
      return { ok: false, reason: 'a string overruns the frame' };
    const text = body.toString('latin1', at + 1, at + 1 + length);
    if (!/^[\x21-\x7e]+$/.test(text)) return { ok: false, reason: 'a string is not printable ASCII' };
    strings.push(text);
    at += 1 + length;
  }
  // A later minor version may append before the tag; this one reads none.
  if (buf[5] === MINOR && at !== body.length) return { ok: false, reason: 'trailing bytes' };
  const [from = '', to = ''] = strings;
  return {
    ok: true,
    frame: {
      path: path === 0 ? 'lan' : 'mgmt',
      kind,
      from,
      to,
      nonce: Uint8Array.from(buf.subarray(8, 8 + NONCE_BYTES)),
      counter: Number(counter),
      epoch: Number(epoch),
      seq: Number(seq),
    },
  };
}
