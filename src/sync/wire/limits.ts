/** `sync.max_file_bytes` and `sync.max_total_bytes`, pure. */
import { SyncError } from '../../../hal/errors/index.js';
import { describeEntry } from './types.js';
import type { FileEntry, ManifestEntry } from './types.js';

export interface Limits {
  maxFileBytes: number;
  maxTotalBytes: number;
}

export interface LimitCheck {
  /** Files over `max_file_bytes`: not copied (the monitor keeps what it has), reported. */
  oversized: FileEntry[];
  /** Bytes of the files that will be kept in sync. */
  totalBytes: number;
}

/**
 * Rule: one file over `max_file_bytes` is left out (the rest still replicates) and reported;
 * a replicated set over `max_total_bytes` is refused whole, naming the file at which the
 * total crossed the limit, before anything is written.
 */
export function checkLimits(entries: readonly ManifestEntry[], limits: Limits): LimitCheck {
  const oversized: FileEntry[] = [];
  let totalBytes = 0;
  for (const entry of entries) {
    if (entry.type !== 'file') continue;
    if (entry.size > limits.maxFileBytes) {
      oversized.push(entry);
      continue;
    }
    totalBytes += entry.size;
    if (totalBytes > limits.maxTotalBytes) {
      throw new SyncError(
        'limit',
        `the replicated files total more than max_total_bytes (${limits.maxTotalBytes}) at ${describeEntry(entry)}; nothing copied`,
        { root: entry.root, path: entry.path },
      );
    }
  }
  return { oversized, totalBytes };
}

export function oversizedProblem(entry: FileEntry, maxFileBytes: number): string {
  return `${describeEntry(entry)} is ${entry.size} bytes, over max_file_bytes (${maxFileBytes}); not copied`;
}
