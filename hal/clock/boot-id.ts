/**
 * The machine's boot ID (`/proc/sys/kernel/random/boot_id`): it names the time line of
 * CLOCK_MONOTONIC, which every process on the machine shares and which starts again at
 * every boot. A monotonic time persisted with it can be compared with a later reading of
 * the clock when, and only when, the boot ID is still the same.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

let cached: string | null = null;

/**
 * The boot ID, read once per process. Unreadable (no procfs): an ID of this process alone,
 * so that no time persisted by another process is ever taken to be on this time line.
 */
export function linuxBootId(): string {
  if (cached !== null) return cached;
  try {
    const text = readFileSync(BOOT_ID_FILE, 'utf8').trim();
    cached = /^[0-9a-f-]{36}$/.test(text) ? text : `process-${randomBytes(8).toString('hex')}`;
  } catch {
    cached = `process-${randomBytes(8).toString('hex')}`;
  }
  return cached;
}
