/**
 * Path confinement, pure: decides whether a manifest path or symlink target stays inside its
 * replicated root. Returns a problem (a sentence) or null. The local side adds its own check
 * that no parent on disk is a symlink (local-guard.ts).
 */
import { isTempName } from './temp-name.js';

/** Linux limits: a whole path and one name. */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

/**
 * A path relative to its root: not empty (the root file is handled by the caller), not
 * absolute, no NUL, no empty, `.` or `..` component (so it is normalized and cannot climb),
 * no name longer than 255 bytes, no temporary-file name.
 */
export function pathProblem(path: string): string | null {
  if (path === '') return 'is empty';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  if (path.includes('\u0000')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  for (const name of path.split('/')) {
    if (name === '') return 'has an empty component (// or a trailing /)';
    if (name === '.') return 'has a . component (not normalized)';
    if (name === '..') return 'has a .. component (escapes its root)';
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `has a name longer than ${MAX_NAME_BYTES} bytes`;
    if (isTempName(name)) return 'names a hotspare temporary file';
  }
  return null;
}

/**
 * A symlink target must resolve inside the root without help from other symlinks: relative,
 * no NUL, and every `..` before any other name (a `..` after a name could climb out through a
 * symlinked directory, which the kernel resolves physically), never more of them than the
 * link's own depth.
 */
export function symlinkTargetProblem(linkPath: string, target: string): string | null {
  if (target === '') return 'has an empty target';
  if (Buffer.byteLength(target) > MAX_PATH_BYTES) return `has a target longer than ${MAX_PATH_BYTES} bytes`;
  if (target.includes('\u0000')) return 'has a target with a NUL byte';
  if (target.startsWith('/')) return `points to the absolute path ${JSON.stringify(target)}, outside its root`;
  const depth = linkPath.split('/').length - 1;
  let ups = 0;
  let seenName = false;
  for (const name of target.split('/')) {
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (seenName) return `points to ${JSON.stringify(target)}: a .. after a name may climb out through a symlink`;
      ups += 1;
      if (ups > depth) return `points to ${JSON.stringify(target)}, outside its root`;
    } else {
      seenName = true;
    }
  }
  return null;
}

/** The parent of a relative path (`''` for a top-level name). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}
