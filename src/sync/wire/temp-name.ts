import { randomBytes } from 'node:crypto';

/**
 * Temporary files of atomic writes: `.<name>.hotspare-tmp-<8 hex>` beside the final file.
 * Names of this form are never replicated, are refused in a manifest, and leftovers found
 * on a monitor (a crash between write and rename) are removed by the next sync.
 */
const TEMP = /^\..*\.hotspare-tmp-[0-9a-f]{8}$/s;

/** Longest part of the final name kept in the temporary name (the name limit is 255 bytes). */
const KEEP_CHARS = 48;

export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

/** A random start per process, then a counter: unique without a random draw per file. */
let next = randomBytes(4).readUInt32BE(0);

export function tempNameFor(finalName: string): string {
  next = (next + 1) >>> 0;
  return `.${[...finalName].slice(0, KEEP_CHARS).join('')}.hotspare-tmp-${next.toString(16).padStart(8, '0')}`;
}
