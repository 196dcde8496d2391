/**
 * The campaign's fault injectors on a running lab: each `inject` does the fault to one
 * server (or the cluster) and returns how to undo it. Built from the lab's own faults
 * (crash, hang, cut, silence, bmc-down, stranger) and a few of our own, all inside the lab's
 * namespaces and the campaign's own tmpfs mounts:
 *
 * - frozen server: the agent stopped (SIGSTOP) and its switch port silent with the link up
 *   (`Lab.silence`): nothing in or out, no carrier change, as a hung kernel would look from
 *   the LAN. Its kernel does not answer ARP or ping either, which a real frozen kernel would
 *   not, so this is the harsher side.
 * - one-way loss: in the server's namespace a policy rule sends every packet from the
 *   primary address to a blackhole route (`ip rule from PRIMARY lookup 250`): the primary
 *   still hears everything, but its answers (echo replies, TCP) are dropped; ARP and the
 *   heartbeats from its own fixed address still go out.
 * - management partition: blackhole routes in every server namespace to every BMC and to the
 *   other servers' management addresses: BMCs unreachable, management heartbeats lost, the
 *   LAN untouched.
 * - BMC slow: that BMC's off delay set to seconds (SlowBmcPower.setOffDelayMs).
 * - LAN loss and delay: this kernel has no sch_netem, so the bench's user-space impairing
 *   switch (impair-hub.c) carries the LAN for the fault's duration (lan-impair.ts).
 * - disk full: the server's tmpfs (state_dir and data) filled with one file.
 * - clock step: the agent's test-only control command (src/cli/test-hooks.ts).
 * - forged ARP: a stranger host holding the primary address with a lower MAC, sending
 *   unsolicited ARP for it (`arping -U`) at the start.
 * - link flap: the switch port's admin state, as `Lab.cut`. An isolating fence takes the
 *   same admin state down (a SET on a port the flap has down changes nothing), so a flap
 *   whose target was cut off by an agent meanwhile leaves the port down: bringing it up would
 *   undo the isolation while the server may still run with the address.
 */
import { createConnection } from 'node:net';
import { statfsSync } from 'node:fs';
import { rm, open } from 'node:fs/promises';
import { join } from 'node:path';
import { agentLog } from '../lab/cluster.js';
import type { AgentLine } from '../lab/cluster.js';
import { exec, monoUs, sleep } from '../lab/exec.js';
import type { Lab } from '../lab/lab.js';
import { ipBatchOnce } from '../lab/netns.js';
import { PRIMARY_ADDRESS, bare } from '../lab/topology.js';
import { impairLan } from './lan-impair.js';
import type { SoakFaultKind } from './schedule.js';

export type Undo = () => Promise<void>;

export interface InjectContext {
  lab: Lab;
  /** Each server's tmpfs root (state/ and data/ below it). */
  diskOf: (server: string) => string;
  log: (line: string) => void;
}

const ONE_WAY_TABLE = 250;
const ONE_WAY_PREF = 50;

/** Applies one fault; resolves with its undo (a no-op for instant faults). */
export async function inject(
  context: InjectContext,
  kind: SoakFaultKind,
  target: string | null,
  params: Record<string, number>,
): Promise<Undo> {
  const { lab } = context;
  const server = (): string => {
    if (target === null) throw new Error(`${kind} needs a target server`);
    return target;
  };
  switch (kind) {
    case 'power-loss': {
      const name = server();
      await lab.crash(name);
      return () => lab.restore(name, 'crash');
    }
    case 'agent-crash': {
      const agent = lab.get(server()).agent;
      if (agent === null || !agent.signal('SIGKILL')) throw new Error('no running agent to kill');
      return async () => undefined;
    }
    case 'agent-hang': {
      const name = server();
      lab.hang(name);
      return () => lab.restore(name, 'hang');
    }
    case 'frozen-server': {
      const name = server();
      lab.hang(name);
      await lab.silence(name);
      return async () => {
        await lab.restore(name, 'hang');
        await lab.restore(name, 'silence');
      };
    }
    case 'silent-port': {
      const name = server();
      await lab.silence(name);
      return () => lab.restore(name, 'silence');
    }
    case 'one-way-loss': {
      const netns = lab.netnsOf(server());
      await ipBatchOnce(netns, [
        `route replace blackhole default table ${ONE_WAY_TABLE}`,
        `rule add from ${bare(PRIMARY_ADDRESS)} lookup ${ONE_WAY_TABLE} pref ${ONE_WAY_PREF}`,
      ]);
      return () =>
        ipBatchOnce(netns, [`rule del pref ${ONE_WAY_PREF}`, `route flush table ${ONE_WAY_TABLE}`]).catch(
          () => undefined,
        );
    }
    case 'mgmt-partition': {
      const routes = new Map<string, string[]>();
      for (const name of lab.serverNames()) {
        const others = lab.plan.servers.filter((s) => s.name !== name).map((s) => bare(s.mgmtAddress));
        routes.set(name, [...lab.plan.servers.map((s) => s.bmcHost), ...others]);
      }
      await Promise.all(
        [...routes].map(([name, hosts]) =>
          ipBatchOnce(
            lab.netnsOf(name),
            hosts.map((host) => `route replace blackhole ${host}/32`),
          ),
        ),
      );
      return async () => {
        await Promise.all(
          [...routes].map(([name, hosts]) =>
            ipBatchOnce(
              lab.netnsOf(name),
              hosts.map((host) => `route del blackhole ${host}/32`),
            ).catch(() => undefined),
          ),
        );
      };
    }
    case 'link-flap': {
      const name = server();
      const flaps = params['flaps'] ?? 3;
      const downMs = params['downMs'] ?? 200;
      const sinceUs = monoUs();
      for (let i = 0; i < flaps; i += 1) {
        await lab.cut(name);
        await sleep(downMs);
        const lines = lab.serverNames().flatMap((s) => agentLog(lab, s));
        if (isolatedSince(lines, name, sinceUs)) {
          context.log(`link-flap ${name}: an agent cut its port off meanwhile; the port stays down (the fence's)`);
          return async () => undefined;
        }
        await lab.restore(name, 'cut');
        await sleep(300);
      }
      return async () => undefined;
    }
    case 'bmc-down': {
      const name = server();
      lab.bmcDown(name);
      return () => lab.restore(name, 'bmc-down');
    }
    case 'bmc-slow': {
      const name = server();
      lab.bmcPower.setOffDelayMs(name, params['offDelayMs'] ?? 4000);
      return async () => lab.bmcPower.setOffDelayMs(name, null);
    }
    case 'lan-impair':
      return impairLan(lab, {
        lossPct: params['lossPct'] ?? 1,
        delayMs: params['delayMs'] ?? 0,
        jitterMs: params['jitterMs'] ?? 0,
        seed: params['seed'] ?? 1,
      });
    case 'power-cycle-all': {
      const names = lab.serverNames();
      await Promise.all(names.map((name) => lab.crash(name)));
      return async () => {
        await Promise.all(names.map((name) => lab.restore(name, 'crash')));
      };
    }
    case 'disk-full': {
      const file = join(context.diskOf(server()), 'filler');
      await fill(file);
      return () => rm(file, { force: true });
    }
    case 'clock-step': {
      const name = server();
      const answer = await controlRequest(
        lab.get(name).paths.controlSocket,
        `test-clock-step ${params['stepMs'] ?? 0}`,
      );
      if (!answer.includes('"ok":true')) throw new Error(`clock step refused: ${answer.trim()}`);
      return async () => undefined;
    }
    case 'forged-arp': {
      const mac = `00:00:5e:00:01:${(params['macLow'] ?? 1).toString(16).padStart(2, '0')}`;
      // The lab numbers its strangers from 0 as it makes them; the campaign makes them all.
      const netns = `hs${lab.id}-x${strangerCount(lab)}`;
      const remove = await lab.stranger(PRIMARY_ADDRESS, mac);
      void exec('ip', ['netns', 'exec', netns, 'arping', '-U', '-c', '3', '-I', 'eth0', bare(PRIMARY_ADDRESS)]).catch(
        (error: unknown) => context.log(`forged-arp: arping: ${String(error)}`),
      );
      return remove;
    }
  }
}

/**
 * Whether some agent's log says it cut `server` off at its switch port (an isolating fence's
 * `fence-done` of target X, "fenced X (fence N): cut off at switch ...") at or after `sinceUs`.
 * Older agents' lines have neither the target field nor the fence id.
 */
export function isolatedSince(lines: readonly AgentLine[], server: string, sinceUs: number): boolean {
  return lines.some(
    (l) =>
      l.event === 'fence-done' &&
      l.atUs >= sinceUs &&
      (l.target === server || l.message.startsWith(`fenced ${server}:`)) &&
      l.message.includes(': cut off at '),
  );
}

/** Strangers are numbered per lab from 0; the campaign is the only one that makes them. */
const strangers = new WeakMap<Lab, number>();
function strangerCount(lab: Lab): number {
  const n = strangers.get(lab) ?? 0;
  strangers.set(lab, n + 1);
  return n;
}

/** Fills the filesystem holding `file` (a tmpfs) to the last block. */
async function fill(file: string): Promise<void> {
  const dir = file.slice(0, file.lastIndexOf('/'));
  const stats = statfsSync(dir);
  const handle = await open(file, 'w', 0o600);
  try {
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    let left = stats.bavail * stats.bsize;
    while (left > 0) {
      try {
        await handle.write(chunk, 0, Math.min(chunk.length, left));
      } catch {
        break;
      }
      left -= chunk.length;
    }
    // The last partial blocks, until the filesystem refuses.
    for (;;) {
      try {
        await handle.write(chunk, 0, 4096);
      } catch {
        break;
      }
    }
  } finally {
    await handle.close();
  }
}

/** One JSON request on an agent's control socket; resolves with the answer line (rejects after 2 s). */
export function controlRequest(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 2 s'));
    }, 2000);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ command })}\n`));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (!buffer.includes('\n')) return;
      clearTimeout(timer);
      socket.end();
      resolve(buffer.slice(0, buffer.indexOf('\n')));
    });
  });
}
