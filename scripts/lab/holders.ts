import { ip } from './exec.js';
import { linkUsable } from './monitor-parse.js';
import { MONITOR_ADDRESS, PRIMARY_ADDRESS, bare } from './topology.js';
import type { LabPlan } from './topology.js';

export interface ServerNetState {
  /** eth0 up with carrier. */
  linkUp: boolean;
  /** The server's switch port (veth peer in the LAN namespace) is up: false while `cut`. */
  portUp: boolean;
  /** IPv4 addresses on eth0, CIDR. */
  addresses: string[];
}

export interface Holders {
  /** Servers holding the primary address (whatever their link state). */
  primary: string[];
  monitor: string[];
  /** Servers holding the primary address with eth0 and switch port up: more than one is a split brain. */
  primaryUp: string[];
  monitorUp: string[];
  servers: Record<string, ServerNetState>;
}

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

export async function readServerNet(netns: string, portUp = true): Promise<ServerNetState> {
  const { stdout } = await ip('-n', netns, '-j', 'addr', 'show', 'dev', 'eth0');
  const [link] = JSON.parse(stdout) as IpAddrJson[];
  if (link === undefined) {
    return { linkUp: false, portUp, addresses: [] };
  }
  return {
    linkUp: linkUsable(link.flags ?? []),
    portUp,
    addresses: (link.addr_info ?? [])
      .filter((info) => info.family === 'inet')
      .map((info) => `${info.local ?? ''}/${info.prefixlen ?? 32}`),
  };
}

/** Who holds the primary and monitor addresses right now, read with `ip -j addr` in every server namespace. */
/** Admin state (UP flag) of every switch port in the LAN namespace, by port name. */
export async function readPorts(plan: LabPlan): Promise<Map<string, boolean>> {
  const { stdout } = await ip('-n', plan.lanNetns, '-j', 'link', 'show');
  const links = JSON.parse(stdout) as IpAddrJson[];
  return new Map(links.map((link) => [link.ifname ?? '', (link.flags ?? []).includes('UP')]));
}

export async function readHolders(plan: LabPlan): Promise<Holders> {
  const ports = await readPorts(plan);
  const states = await Promise.all(
    plan.servers.map(
      async (server) => [server.name, await readServerNet(server.netns, ports.get(server.lanPort) ?? false)] as const,
    ),
  );
  const servers = Object.fromEntries(states);
  const holding = (address: string, up: boolean): string[] =>
    states
      .filter(([, s]) => s.addresses.some((held) => bare(held) === bare(address)) && (!up || (s.linkUp && s.portUp)))
      .map(([name]) => name);
  return {
    primary: holding(PRIMARY_ADDRESS, false),
    monitor: holding(MONITOR_ADDRESS, false),
    primaryUp: holding(PRIMARY_ADDRESS, true),
    monitorUp: holding(MONITOR_ADDRESS, true),
    servers,
  };
}
