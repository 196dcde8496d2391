/**
 * The messages of the sync protocol (version 1) and their validation, pure. Anything that
 * does not parse is a `protocol` SyncError naming what was wrong; the caller drops the
 * connection. A session, over TLS-PSK:
 *
 *   monitor                              primary
 *   hello {v, roots}             ->
 *                                <-      hello {v, roots}
 *   manifest                     ->
 *                                <-      manifest {roots, rootMeta?, copy?}, entries {entries[]}..., manifest-end {count}
 *   get {root, path}             ->
 *                                <-      file {root, path}, D frames..., end {size, sha256, mode, mtimeMs, stable}
 *                                        or missing {root, path, reason}
 *   ... more gets ...
 *   bye                          ->
 *
 * Optional fields, added without a version change (an older peer omits them, and ignores
 * them when it receives them): `rootMeta` (each directory root's mode and numeric owner;
 * absent: the monitor leaves its roots' mode and owner alone, a root it creates is 0700),
 * `copy` (the serving server's own copy state, types.ts; absent: unknown), and `uid`/`gid` of
 * file and directory entries (both or neither; absent: the monitor leaves owners as they
 * are, new files are root's).
 */
import { SyncError } from '../../../hal/errors/index.js';
import { MAX_PATH_BYTES } from './confine.js';
import type { CopyState, ManifestEntry, RootKind, RootMeta } from './types.js';

export const PROTOCOL_VERSION = 1;
/** More roots than this is not a sensible config, and refused on the wire. */
export const MAX_ROOTS = 1000;
/** Highest uid or gid accepted: 2^32 - 1 is chown's "leave unchanged", never an owner. */
export const MAX_ID = 0xfffffffe;

export type ClientMessage =
  | { t: 'hello'; v: number; roots: number }
  | { t: 'manifest' }
  | { t: 'get'; root: number; path: string }
  | { t: 'bye' };

export type ServerMessage =
  | { t: 'hello'; v: number; roots: number }
  | { t: 'manifest'; roots: RootKind[]; rootMeta?: Array<RootMeta | null>; copy?: CopyState }
  | { t: 'entries'; entries: ManifestEntry[] }
  | { t: 'manifest-end'; count: number }
  | { t: 'file'; root: number; path: string }
  | { t: 'end'; size: number; sha256: string; mode: number; mtimeMs: number; stable: boolean }
  | { t: 'missing'; root: number; path: string; reason: string }
  | { t: 'error'; message: string };

export function parseClientMessage(value: unknown): ClientMessage {
  const o = object(value, 'message');
  const t = o['t'];
  switch (t) {
    case 'hello':
      return { t, v: int(o, 'v', 0, 1_000_000), roots: int(o, 'roots', 0, MAX_ROOTS) };
    case 'manifest':
    case 'bye':
      return { t };
    case 'get':
      return { t, root: int(o, 'root', 0, MAX_ROOTS), path: text(o, 'path', MAX_PATH_BYTES) };
    default:
      throw bad(`unknown request ${JSON.stringify(t)}`);
  }
}

export function parseServerMessage(value: unknown): ServerMessage {
  const o = object(value, 'message');
  const t = o['t'];
  switch (t) {
    case 'hello':
      return { t, v: int(o, 'v', 0, 1_000_000), roots: int(o, 'roots', 0, MAX_ROOTS) };
    case 'manifest': {
      const roots = o['roots'];
      if (!Array.isArray(roots) || roots.length > MAX_ROOTS)
        throw bad('manifest.roots must be a list of at most 1000 root kinds');
      const kinds = roots.map(rootKind);
      return { t, roots: kinds, ...rootMetaField(o, kinds), ...copyField(o) };
    }
    case 'entries': {
      const entries = o['entries'];
      if (!Array.isArray(entries)) throw bad('entries.entries must be a list');
      return { t, entries: entries.map(parseEntry) };
    }
    case 'manifest-end':
      return { t, count: int(o, 'count', 0, Number.MAX_SAFE_INTEGER) };
    case 'file':
      return { t, root: int(o, 'root', 0, MAX_ROOTS), path: text(o, 'path', MAX_PATH_BYTES) };
    case 'end':
      return {
        t,
        size: int(o, 'size', 0, Number.MAX_SAFE_INTEGER),
        sha256: sha256(o),
        mode: int(o, 'mode', 0, 0o777),
        mtimeMs: finite(o, 'mtimeMs'),
        stable: bool(o, 'stable'),
      };
    case 'missing':
      return {
        t,
        root: int(o, 'root', 0, MAX_ROOTS),
        path: text(o, 'path', MAX_PATH_BYTES),
        reason: text(o, 'reason', 1000),
      };
    case 'error':
      return { t, message: text(o, 'message', 2000) };
    default:
      throw bad(`unknown message ${JSON.stringify(t)}`);
  }
}

/** One manifest entry off the wire: types and ranges only (confinement: validate.ts). */
export function parseEntry(value: unknown): ManifestEntry {
  const o = object(value, 'manifest entry');
  const root = int(o, 'root', 0, MAX_ROOTS);
  const path = text(o, 'path', MAX_PATH_BYTES);
  switch (o['type']) {
    case 'file':
      return {
        type: 'file',
        root,
        path,
        size: int(o, 'size', 0, Number.MAX_SAFE_INTEGER),
        mode: int(o, 'mode', 0, 0o777),
        mtimeMs: finite(o, 'mtimeMs'),
        sha256: sha256(o),
        ...ownerFields(o, path),
      };
    case 'dir':
      return { type: 'dir', root, path, mode: int(o, 'mode', 0, 0o777), ...ownerFields(o, path) };
    case 'symlink':
      return { type: 'symlink', root, path, target: text(o, 'target', MAX_PATH_BYTES) };
    default:
      throw bad(`manifest entry ${JSON.stringify(path)} has unknown type ${JSON.stringify(o['type'])}`);
  }
}

/** `uid` and `gid`: both absent (an older primary), or both integers in 0..MAX_ID. */
function ownerFields(o: Record<string, unknown>, path: string): { uid?: number; gid?: number } {
  const hasUid = o['uid'] !== undefined;
  const hasGid = o['gid'] !== undefined;
  if (!hasUid && !hasGid) return {};
  if (hasUid !== hasGid)
    throw bad(`manifest entry ${JSON.stringify(path)} has ${hasUid ? 'uid' : 'gid'} without ${hasUid ? 'gid' : 'uid'}`);
  return { uid: int(o, 'uid', 0, MAX_ID), gid: int(o, 'gid', 0, MAX_ID) };
}

/** `rootMeta`: absent, or one item per root: {mode, uid, gid} for a directory root, null otherwise. */
function rootMetaField(o: Record<string, unknown>, kinds: readonly RootKind[]): { rootMeta?: Array<RootMeta | null> } {
  const value = o['rootMeta'];
  if (value === undefined) return {};
  if (!Array.isArray(value) || value.length !== kinds.length)
    throw bad(`manifest.rootMeta must be a list of ${kinds.length} item(s), one per root, got ${short(value)}`);
  return {
    rootMeta: value.map((item: unknown, index) => {
      if (kinds[index] !== 'dir') {
        if (item !== null) throw bad(`manifest.rootMeta[${index}] must be null: root ${index} is not a directory`);
        return null;
      }
      const m = object(item, `manifest.rootMeta[${index}]`);
      return { mode: int(m, 'mode', 0, 0o777), uid: int(m, 'uid', 0, MAX_ID), gid: int(m, 'gid', 0, MAX_ID) };
    }),
  };
}

/** `copy`: absent, `complete` or `incomplete`. */
function copyField(o: Record<string, unknown>): { copy?: CopyState } {
  const value = o['copy'];
  if (value === undefined) return {};
  if (value === 'complete' || value === 'incomplete') return { copy: value };
  throw bad(`manifest.copy must be "complete" or "incomplete", got ${short(value)}`);
}

function rootKind(value: unknown): RootKind {
  if (value === 'dir' || value === 'file' || value === 'absent') return value;
  throw bad(`unknown root kind ${JSON.stringify(value)}`);
}

function bad(detail: string): SyncError {
  return new SyncError('protocol', `malformed message: ${detail}`);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`a ${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw bad(`${key} must be an integer in ${min}..${max}, got ${short(v)}`);
  return v;
}

function finite(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${key} must be a finite number, got ${short(v)}`);
  return v;
}

function bool(o: Record<string, unknown>, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw bad(`${key} must be true or false, got ${short(v)}`);
  return v;
}

function text(o: Record<string, unknown>, key: string, maxBytes: number): string {
  const v = o[key];
  if (typeof v !== 'string' || Buffer.byteLength(v) > maxBytes)
    throw bad(`${key} must be a string of at most ${maxBytes} bytes, got ${short(v)}`);
  return v;
}

function sha256(o: Record<string, unknown>): string {
  const v = o['sha256'];
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v))
    throw bad(`sha256 must be 64 lower-case hex digits, got ${short(v)}`);
  return v;
}

function short(v: unknown): string {
  const s =
    typeof v === 'string'
      ? JSON.stringify(v)
      : typeof v === 'object' && v !== null
        ? Array.isArray(v)
          ? 'a list'
          : 'an object'
        : String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
