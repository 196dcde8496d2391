/**
 * What the lab reports of itself: the CLI's `status` (holders, power, faults, observer
 * statistics) and the recorded address and link events as the split-brain checker reads them.
 */
import { monoUs } from './exec.js';
import type { Holders } from './holders.js';
import type { RecordedEvent } from './monitor.js';
import type { Observer } from './observer.js';
import type { SlowBmcPower } from './slow-bmc.js';
import type { HolderEvent } from './split-brain.js';
import { BMC_PORT } from './topology.js';
import type { ServerPlan } from './topology.js';

export interface LabStatus {
  id: string;
  runDir: string;
  holders: Holders;
  servers: Record<string, unknown>;
  observer: unknown;
}

/** What a status is read from (lab.ts's `Lab`). */
export interface LabStatusSource {
  readonly id: string;
  readonly runDir: string;
  readonly servers: ReadonlyMap<
    string,
    { plan: ServerPlan; powered: boolean; agentStarts: number; faults: ReadonlySet<string> }
  >;
  readonly bmcPower: Pick<SlowBmcPower, 'offPending'>;
  readonly observer: Observer | null;
  agentPid(name: string): number | null;
  serverByTtl(ttl: number): string | null;
}

export function labStatus(lab: LabStatusSource, holders: Holders): LabStatus {
  const servers: Record<string, unknown> = {};
  for (const [name, server] of lab.servers) {
    servers[name] = {
      netns: server.plan.netns,
      powered: server.powered,
      powerOffPending: lab.bmcPower.offPending(name),
      agentPid: lab.agentPid(name),
      agentStarts: server.agentStarts,
      bmc: `${server.plan.bmcHost}:${BMC_PORT}`,
      faults: [...server.faults],
      ttl: server.plan.ttl,
    };
  }
  const observer = lab.observer;
  const last = observer?.lastReply() ?? null;
  return {
    id: lab.id,
    runDir: lab.runDir,
    holders,
    servers,
    observer:
      observer === null
        ? null
        : {
            sent: observer.sent,
            replies: observer.replies.length,
            lastReplyAgoMs: last === null ? null : (monoUs() - last.t) / 1000,
            lastReplyFrom: last === null ? null : lab.serverByTtl(last.ttl),
            largestGapLast10sMs: observer.outage(monoUs() - 10_000_000).gapUs / 1000,
          },
  };
}

/**
 * The recorded events as the split-brain checker reads them: eth0 of each server (its link
 * and addresses) and its switch port's admin state; a silenced port counts as a port that is
 * down. Ordered by time.
 */
export function holderEventsOf(
  recorded: readonly RecordedEvent[],
  lanPortOf: (server: string) => string | undefined,
  silences: readonly HolderEvent[],
): HolderEvent[] {
  const events: HolderEvent[] = [];
  for (const event of recorded) {
    if (event.ifname === lanPortOf(event.server) && event.kind === 'link') {
      // Admin state of the switch port (carrier of a veth peer is irrelevant here).
      events.push({
        server: event.server,
        atUs: event.atUs,
        kind: 'port',
        up: event.flags.includes('UP') && !event.deleted,
      });
    } else if (event.ifname === 'eth0') {
      events.push(
        event.kind === 'link'
          ? { server: event.server, atUs: event.atUs, kind: 'link', up: event.up }
          : { server: event.server, atUs: event.atUs, kind: 'addr', address: event.address, deleted: event.deleted },
      );
    }
  }
  return [...events, ...silences].sort((a, b) => a.atUs - b.atUs);
}
