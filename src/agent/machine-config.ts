import type { Config } from '../config/index.js';
import type { MachineConfig } from '../role/index.js';
import type { PeerPath } from '../role/types.js';

const US = 1000;

/** The role machine's view of the config: times in microseconds, nothing it does not use. */
export function machineConfig(config: Config): MachineConfig {
  return {
    self: config.node,
    selfMac: config.cluster.members.find((m) => m.name === config.node)?.mac ?? '',
    members: config.cluster.members.map((m) => ({ name: m.name, mac: m.mac })),
    uplink: config.cluster.uplinkAddress !== null,
    probe: {
      intervalUs: config.probe.intervalMs * US,
      timeoutUs: config.probe.timeoutMs * US,
      misses: config.probe.misses,
    },
    fencing: {
      required: config.fencing.required,
      confirmUs: config.fencing.confirmMs * US,
      retryUs: config.fencing.retryMs * US,
      retryMaxUs: config.fencing.retryMaxMs * US,
      powerCycle: config.board.bmc.powerCycle,
      powerTimeoutUs: config.fencing.powerTimeoutMs * US,
      gate: config.fencing.gate,
    },
    peer:
      config.peer.keyFile === null
        ? null
        : {
            paths: peerPaths(config),
            // The last heartbeat and one lost after it, with half an interval to spare.
            freshUs: Math.min(2.5 * config.peer.intervalMs, config.peer.deadAfterMs) * US,
            deferUs: config.peer.deadAfterMs * US,
          },
    lease: config.fencing.gate === 'lease' ? { acquireUs: leaseAcquireUs(config) } : null,
    syncEveryProbes: config.sync.everyProbes,
    // A release is only heard through the peer heartbeat, and there is only something to pull
    // with replication configured.
    finalSyncUs: config.sync.paths.length > 0 && config.peer.keyFile !== null ? config.sync.finalMs * US : 0,
    boot: { jitterUs: config.boot.jitterMs * US, checkUs: config.boot.checkMs * US },
    spare: { checkUs: config.spare.checkMs * US, jitterUs: config.spare.jitterMs * US },
    defendUs: config.boot.defendMs * US,
    health: config.health === null ? null : { intervalUs: config.health.intervalMs * US, fails: config.health.fails },
    announceRefreshUs: config.announce.refreshS * 1_000_000,
  };
}

/** For each other member, the heartbeat paths between it and this server. */
function peerPaths(config: Config): Record<string, PeerPath[]> {
  const self = config.cluster.members.find((m) => m.name === config.node);
  const paths: Record<string, PeerPath[]> = {};
  for (const m of config.cluster.members) {
    if (m.name === config.node) continue;
    paths[m.name] = [
      ...(m.address !== null && self !== undefined && self.address !== null ? (['lan'] as const) : []),
      ...(m.mgmtAddress !== null && self !== undefined && self.mgmtAddress !== null ? (['mgmt'] as const) : []),
    ];
  }
  return paths;
}

/**
 * How long a claim waits for a majority: the voters' promises to an old holder (and the
 * quiet period of voters that just started) may take (L + d_drop)·(1+ρ) to run out; then
 * allow a few renewal rounds for lost requests.
 */
export function leaseAcquireUs(config: Config): number {
  const l = config.lease;
  return Math.ceil(((l.durationMs + l.dropMs) * (1 + l.drift) + 5 * l.renewMs) * US) * 2;
}
