/**
 * Loads hotspare-unixdgram.node (hal/systemd/unix-dgram.c, built by `make` into dist/bin):
 * one datagram to a unix socket path, which Node cannot send itself.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface UnixDgramBinding {
  /** 0 when sent, else the errno. */
  send(path: string, data: Buffer): number;
}

/** dist/bin/hotspare-unixdgram.node, found from this compiled module (dist/hal/systemd/). */
export const DEFAULT_UNIXDGRAM_ADDON = fileURLToPath(new URL('../../bin/hotspare-unixdgram.node', import.meta.url));

const require = createRequire(import.meta.url);

/** The addon, or the reason it cannot be loaded (not built, wrong file). */
export function loadUnixDgram(path: string = DEFAULT_UNIXDGRAM_ADDON): UnixDgramBinding | string {
  try {
    const loaded: unknown = require(path);
    if (
      typeof loaded === 'object' &&
      loaded !== null &&
      typeof (loaded as Record<string, unknown>)['send'] === 'function'
    )
      return loaded as UnixDgramBinding;
    return `${path}: not the hotspare unixdgram addon`;
  } catch (error) {
    return `${path}: ${error instanceof Error ? error.message : String(error)}`;
  }
}
