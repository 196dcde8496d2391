/**
 * Loads hotspare-unixdgram.node (hal/systemd/unix-dgram.c, built by `make` into dist/bin):
 * one datagram to a unix socket path, which Node cannot send itself.
 */
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../base/addon.js';

export interface UnixDgramBinding {
  /** 0 when sent, else the errno. */
  send(path: string, data: Buffer): number;
}

/** dist/bin/hotspare-unixdgram.node, found from this compiled module (dist/hal/systemd/). */
export const DEFAULT_UNIXDGRAM_ADDON = fileURLToPath(new URL('../../bin/hotspare-unixdgram.node', import.meta.url));

/** The addon, or the reason it cannot be loaded (not built, wrong file). */
export function loadUnixDgram(path: string = DEFAULT_UNIXDGRAM_ADDON): UnixDgramBinding | string {
  const loaded = loadAddon(path, ['send'], 'unixdgram');
  return typeof loaded === 'string' ? loaded : (loaded as unknown as UnixDgramBinding);
}
