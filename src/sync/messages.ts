/**
 * The messages of the sync protocol (version 1) and their validation, pure. Anything that
 * does not parse is a `protocol` SyncError naming what was wrong; the caller drops the
 * connection. A session, over TLS-PSK:
 *
 *   monitor                              primary
 *   hello {v, roots}             ->
 *                                <-      hello {v, roots}
 *   manifest                     ->
 *                                <-      manifest {roots}, entries {entries[]}..., manifest-end {count}
 *   get {root, path}             ->
 *                                <-      file {root, path}, D frames..., end {size, sha256, mode, mtimeMs, stable}
 *                                        or missing {root, path, reason}
 *   ... more gets ...
 *   bye                          ->
 */
import { SyncError } from '../../hal/errors/index.js';
import { MAX_PATH_BYTES } from './confine.js';
import type { ManifestEntry, RootKind } from './types.js';

export const PROTOCOL_VERSION = 1;
/** More roots than this is not a sensible config, and refused on the wire. */
export const MAX_ROOTS = 1000;

export type ClientMessage =
  | { t: 'hello'; v: number; roots: number }
  | { t: 'manifest' }
  | { t: 'get'; root: number; path: string }
  | { t: 'bye' };

export type ServerMessage =
  | { t: 'hello'; v: number; roots: number }
  | { t: 'manifest'; roots: RootKind[] }
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
      return { t, roots: roots.map(rootKind) };
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
      };
    case 'dir':
      return { type: 'dir', root, path, mode: int(o, 'mode', 0, 0o777) };
    case 'symlink':
      return { type: 'symlink', root, path, target: text(o, 'target', MAX_PATH_BYTES) };
    default:
      throw bad(`manifest entry ${JSON.stringify(path)} has unknown type ${JSON.stringify(o['type'])}`);
  }
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
