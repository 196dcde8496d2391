/**
 * Loads hotspare-netlink.node (hal/nic/netlink-address.c, built by `make` into dist/bin): an
 * IPv4 address added with one rtnetlink request from the agent's thread, where `ip -batch`
 * needs a round trip through another process.
 */
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../base/addon.js';

export interface NetlinkBinding {
  /** '' when `iface` holds `address`/`prefix` (added, or held already), else the reason. */
  add(iface: string, address: string, prefix: number): string;
}

/** dist/bin/hotspare-netlink.node, found from this compiled module (dist/hal/nic/). */
export const DEFAULT_NETLINK_ADDON = fileURLToPath(new URL('../../bin/hotspare-netlink.node', import.meta.url));

/** The addon, or the reason it cannot be loaded (not built, wrong file). */
export function loadNetlink(path: string = DEFAULT_NETLINK_ADDON): NetlinkBinding | string {
  const loaded = loadAddon(path, ['add'], 'netlink');
  return typeof loaded === 'string' ? loaded : (loaded as unknown as NetlinkBinding);
}
