/**
 * Keeps secrets (BMC and shell passwords, the sync key) out of core dumps of the agent.
 *
 * Node has no setrlimit(RLIMIT_CORE) or prctl(PR_SET_DUMPABLE). Linux's per-process
 * /proc/self/coredump_filter does the part that matters from plain Node: with every bit
 * clear, a core dump holds no memory mappings (no heap, no stack contents), only the ELF
 * headers and register notes. Children inherit the filter. `LimitCORE=0` in a systemd unit
 * (or `ulimit -c 0` before starting) stops the dump altogether.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const FILTER = '/proc/self/coredump_filter';

/** Clears the core dump filter; returns null, or why it could not (the caller warns). */
export function keepMemoryOutOfCoreDumps(path = FILTER): string | null {
  try {
    writeFileSync(path, '0');
    const now = Number.parseInt(readFileSync(path, 'utf8').trim(), 16);
    return now === 0 ? null : `${path} still reads ${now.toString(16)}`;
  } catch (error) {
    return `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}
