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
  /** Numeric owner; both or neither (a primary before owners were replicated sends neither). */
  uid?: number;
  gid?: number;
}

export interface DirEntry {
  type: 'dir';
  root: number;
  path: string;
  mode: number;
  uid?: number;
  gid?: number;
}

export interface SymlinkEntry {
  type: 'symlink';
  root: number;
  path: string;
  /** Relative target, confined to the root (see confine.ts). */
  target: string;
}

export type ManifestEntry = FileEntry | DirEntry | SymlinkEntry;

/** Mode and numeric owner of a directory root itself (a file root's are in its entry). */
export interface RootMeta {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * How complete the serving server's copy is, as it records it (copy-state.ts): `complete`
 * once it completed a pull, `incomplete` while it has tried to pull and never completed one.
 * Absent: unknown (a server that never pulled, an older primary, no state recorded).
 */
export type CopyState = 'complete' | 'incomplete';

export interface Manifest {
  roots: RootKind[];
  /** Per root: its own mode and owner, null for a file or absent root. Absent: not sent (older primary). */
  rootMeta?: Array<RootMeta | null>;
  copy?: CopyState;
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
