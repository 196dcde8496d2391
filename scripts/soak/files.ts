/**
 * The replicated files the campaign writes: each version of a file carries its name, its
 * version number and a SHA-256 of its body, so any copy can be checked on its own (a torn or
 * mixed copy fails the check) and ordered against the versions written. Pure.
 */
import { createHash, randomBytes } from 'node:crypto';

export const FILE_COUNT = 8;

export function fileName(index: number): string {
  return `f${index}.dat`;
}

/** One version's content: a header line, then the body. */
export function encodeVersion(name: string, version: number, bytes: number): Buffer {
  const body = randomBytes(bytes).toString('base64');
  const sha = createHash('sha256').update(body).digest('hex');
  return Buffer.from(`${JSON.stringify({ name, version, sha, length: body.length })}\n${body}`);
}

export type Decoded = { ok: true; name: string; version: number } | { ok: false; why: string };

export function decodeVersion(content: Buffer): Decoded {
  const newline = content.indexOf(0x0a);
  if (newline < 0) return { ok: false, why: `no header line (${content.length} bytes)` };
  let header: { name?: unknown; version?: unknown; sha?: unknown; length?: unknown };
  try {
    header = JSON.parse(content.subarray(0, newline).toString('utf8')) as typeof header;
  } catch {
    return { ok: false, why: 'header is not JSON' };
  }
  const body = content.subarray(newline + 1).toString('utf8');
  if (typeof header.name !== 'string' || typeof header.version !== 'number' || typeof header.sha !== 'string')
    return { ok: false, why: 'header fields missing' };
  if (body.length !== header.length)
    return { ok: false, why: `body ${body.length} bytes, header says ${String(header.length)}` };
  if (createHash('sha256').update(body).digest('hex') !== header.sha) return { ok: false, why: 'body hash differs' };
  return { ok: true, name: header.name, version: header.version };
}
