import type { EchoReply } from '../../hal/icmp/index.js';
import { nextSequence } from '../../hal/icmp/identifiers.js';
import type { OperatorCommand } from '../role/index.js';
import type { ExecutorContext } from './context.js';
import type { Fencing } from './fencing.js';
import type { TransitionHistory } from './history.js';
import type { MonitorProbing } from './monitor-probing.js';
import type { CommandOutcome, EchoResult } from './operator.js';
import type { PeerLinks } from './peer-links.js';
import type { Replication } from './replication.js';
import type { AgentStatus } from './status.js';

/** The executor's parts a status is read from. */
export interface StatusParts {
  probing: MonitorProbing;
  replication: Replication;
  peers: PeerLinks;
  history: TransitionHistory;
  fencing: Fencing;
  /** When the agent started (clock µs), for its uptime. */
  startedUs: number;
}

/**
 * What the operator asks of the executor: its status, a role command (whose outcome step()
 * reports), the config as loaded, and echo probes of any address, kept apart from the
 * monitor's probing.
 */
export class OperatorCommands {
  /** Operator probes (`probe ADDR`), by identifier and sequence: each call its own identifier. */
  private readonly manual = new Map<string, (reply: EchoReply) => void>();

  constructor(
    private readonly x: ExecutorContext,
    private readonly parts: StatusParts,
  ) {}

  async status(): Promise<AgentStatus> {
    const { config, nic } = this.x.ports;
    const held: string[] = [];
    for (const address of [config.cluster.primaryAddress, config.cluster.monitorAddress]) {
      try {
        if (await nic.holds(address)) held.push(address);
      } catch {
        // The status reports what it can; a NIC error is in the log.
      }
    }
    const s = this.x.state();
    const { fence } = s;
    const { probing, replication, peers, history, fencing, startedUs } = this.parts;
    return {
      node: config.node,
      ...{ role: s.role, phase: s.phase, epoch: s.epoch, linkUp: s.linkUp, maintenance: s.maintenance, held },
      primaryAddress: config.cluster.primaryAddress,
      monitorAddress: config.cluster.monitorAddress,
      holder: s.probe.holder,
      misses: s.probe.misses,
      // The members this takeover fences, as one name or a list.
      fence: {
        status: fence.status,
        target: fence.targets.length === 0 ? null : fence.targets.join(', '),
        attempt: fence.attempt,
      },
      probes: { ...this.x.counters },
      ...probing.samples(),
      sync: replication.status(),
      ...peers.status(),
      transitions: history.all().slice(-10),
      fenceHistory: fencing.attempts().slice(-10),
      uptimeS: Math.round((this.x.now() - startedUs) / 1e6),
    };
  }

  /** The config as loaded. It holds file paths, never a password or key. */
  effectiveConfig(): Record<string, unknown> {
    return JSON.parse(JSON.stringify(this.x.ports.config)) as Record<string, unknown>;
  }

  command(command: OperatorCommand): CommandOutcome {
    const x = this.x;
    const before = x.state().phase;
    x.log('warn', 'operator-command', `operator command: ${command}`, { command });
    const { refused } = x.dispatch({ type: 'command', nowUs: x.now(), command });
    return {
      accepted: refused === undefined,
      from: before,
      to: x.state().phase,
      message: refused ?? `${command} accepted`,
    };
  }

  async probe(address: string, count: number, timeoutMs = 1000): Promise<EchoResult[]> {
    const { ports } = this.x;
    const results: EchoResult[] = [];
    // Its own identifier: an operator's probe never counts as monitoring, nor the reverse.
    const identifier = ports.icmp.newIdentifier();
    let sequence = 0;
    for (let i = 0; i < count && !this.x.stopped(); i++) {
      sequence = nextSequence(sequence);
      const key = `${identifier}/${sequence}`;
      const sentUs = this.x.now();
      const rttUs = await new Promise<number | null>((resolve) => {
        const cancel = ports.clock.at(sentUs + timeoutMs * 1000, () => {
          this.manual.delete(key);
          resolve(null);
        });
        this.manual.set(key, (reply) => {
          if (reply.from !== address) return;
          cancel();
          this.manual.delete(key);
          resolve(reply.receivedUs - sentUs);
        });
        ports.icmp.send({ target: address, identifier, sequence, replyWithinUs: timeoutMs * 1000 });
      });
      results.push({ sequence, rttUs });
    }
    return results;
  }

  /** Replies to operator probes; the monitor's probes are the Prober's business. */
  onEchoReply(reply: EchoReply): void {
    this.manual.get(`${reply.identifier}/${reply.sequence}`)?.(reply);
  }
}
