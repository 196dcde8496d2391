/**
 * The manifest: what a server holds under its replicated roots (`sync.paths`).
 *
 * Roots are matched by position, not by absolute path: entry `{ root: 1, path: 'a/b' }` is
 * `<sync.paths[1]>/a/b` on whichever server reads it. Every server lists its own local roots
 * in the same order. `path` is relative to the root, `/`-separated, normalized; `''` is the
 * root itself when that root is a single file.
 */
export type RootKind = 'dir' | 'file' | 'absent';

export interface FileEntry {
  type: 'file';
  root: number;
  path: string;
  size: number;
  /** Permission bits (`mode & 0o777`). */
  mode: number;
  /** Modification time, ms since the epoch, microsecond precision. */
  mtimeMs: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

export interface DirEntry {
  type: 'dir';
  root: number;
  path: string;
  mode: number;
}

export interface SymlinkEntry {
  type: 'symlink';
  root: number;
  path: string;
  /** Relative target, confined to the root (see confine.ts). */
  target: string;
}

export type ManifestEntry = FileEntry | DirEntry | SymlinkEntry;

export interface Manifest {
  roots: RootKind[];
  entries: ManifestEntry[];
}

/** A file the primary refused to describe (escaping symlink, special file, odd name). */
export interface SkippedPath {
  root: number;
  path: string;
  reason: string;
}

/** Key of an entry: unique within a manifest. */
export function entryKey(entry: { root: number; path: string }): string {
  return `${entry.root}\u0000${entry.path}`;
}

/** Human form of an entry's location, for messages: `root 1: a/b`. */
export function describeEntry(entry: { root: number; path: string }): string {
  return `root ${entry.root}: ${entry.path === '' ? '(the root file)' : entry.path}`;
}
