/**
 * The lab's address plan. Pure: names and addresses only.
 *
 * LAN 198.18.0.0/24 (bridge in `hs<id>-lan`): server N has 198.18.0.(10+N), the primary floating
 * address is .10, the monitor .9, the observer .100, the switch itself (the agents' uplink
 * host, on the bridge) .1.
 * Management 198.18.1.0/24 (bridge in `hs<id>-mgmt`): BMC of server N at 198.18.1.(10+N),
 * the server's own eth1 at 198.18.1.(20+N).
 */
export const PRIMARY_ADDRESS = '198.18.0.10/24';
export const MONITOR_ADDRESS = '198.18.0.9/24';
export const OBSERVER_ADDRESS = '198.18.0.100/24';
export const UPLINK_ADDRESS = '198.18.0.1/24';
export const OBSERVER_MAC = '02:00:00:00:00:64';
/** The LAN bridge's own MAC (the uplink host's), fixed so that ports joining never change it. */
export const SWITCH_MAC = '02:00:00:00:00:01';
export const BMC_PORT = 623;
export const BMC_USER = 'admin';
export const MAX_SERVERS = 9;

export interface ServerPlan {
  name: string;
  /** 1-based position. */
  index: number;
  netns: string;
  mac: string;
  /** Fixed LAN address, CIDR. */
  lanAddress: string;
  /** Fixed management address, CIDR. */
  mgmtAddress: string;
  /** BMC address, no prefix. */
  bmcHost: string;
  /** `net.ipv4.ip_default_ttl` of this server: the observer tells servers apart by it. */
  ttl: number;
  /** The server's veth peer in the LAN namespace (the "switch port"). */
  lanPort: string;
  /** The server's veth peer in the management namespace. */
  mgmtPort: string;
}

export interface LabPlan {
  id: string;
  runDir: string;
  lanNetns: string;
  mgmtNetns: string;
  observerNetns: string;
  servers: ServerPlan[];
}

export function defaultServerNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i));
}

export function planLab(id: string, runDir: string, serverNames: readonly string[]): LabPlan {
  if (serverNames.length < 1 || serverNames.length > MAX_SERVERS) {
    throw new Error(`a lab has 1 to ${MAX_SERVERS} servers, not ${serverNames.length}`);
  }
  const seen = new Set<string>();
  const servers = serverNames.map((name, i): ServerPlan => {
    if (!/^[a-z][a-z0-9]{0,3}$/.test(name) || seen.has(name) || ['lan', 'mgmt', 'obs'].includes(name)) {
      throw new Error(`bad or duplicate server name ${JSON.stringify(name)} (1-4 of [a-z0-9], starting with a letter)`);
    }
    seen.add(name);
    const index = i + 1;
    return {
      name,
      index,
      netns: `hs${id}-${name}`,
      mac: `02:00:00:00:00:${(9 + index).toString(16).padStart(2, '0')}`,
      lanAddress: `198.18.0.${10 + index}/24`,
      mgmtAddress: `198.18.1.${20 + index}/24`,
      bmcHost: `198.18.1.${10 + index}`,
      ttl: 64 + index,
      lanPort: `l-${name}`,
      mgmtPort: `m-${name}`,
    };
  });
  return { id, runDir, lanNetns: `hs${id}-lan`, mgmtNetns: `hs${id}-mgmt`, observerNetns: `hs${id}-obs`, servers };
}

/** Address without prefix length. */
export function bare(address: string): string {
  return address.split('/')[0] ?? address;
}

export function allNetns(plan: LabPlan): string[] {
  return [plan.lanNetns, plan.mgmtNetns, plan.observerNetns, ...plan.servers.map((server) => server.netns)];
}
