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

export function tempNameFor(finalName: string): string {
  return `.${[...finalName].slice(0, KEEP_CHARS).join('')}.hotspare-tmp-${randomBytes(4).toString('hex')}`;
}
