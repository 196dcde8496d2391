/**
 * Packet loss and jitter on the lab's LAN, inside the LAN namespace only (never the root
 * namespace): `tc netem` on every switch port when the kernel has it, otherwise the user-space
 * impairing switch (impair-hub.c) with the same per-egress-port semantics. This machine's
 * kernel is built without sch_netem (CONFIG_NET_SCH_NETEM unset), which `auto` detects.
 */
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { exec } from '../lab/exec.js';
import type { Lab } from '../lab/lab.js';
import { ipBatchOnce } from '../lab/netns.js';
import { repoRoot } from '../lab/paths.js';
import { ensureCTool } from './c-tool.js';
import { onCleanup } from './cleanup.js';

export interface ImpairSpec {
  loss: number;
  delayMs: number;
  jitterMs: number;
  mode: 'auto' | 'netem' | 'hub';
}

export interface ImpairReport {
  method: 'tc-netem' | 'user-space-hub';
  ports: string[];
  spec: string;
  /** The hub's own counters at the end (realised loss, mean delay, its lateness). */
  counters: Record<string, number | boolean> | null;
  note: string;
}

export interface Impairment {
  readonly method: ImpairReport['method'];
  stop(): Promise<ImpairReport>;
}

export function hubBinary(): string {
  return resolve(repoRoot(), 'dist/bin/bench-impair-hub');
}

/** The hub, built when `make bench` has not built it or its source is newer (./c-tool.ts). */
export async function ensureHub(): Promise<string> {
  return ensureCTool('bench-impair-hub', 'impair-hub.c', ['-pthread']);
}

function ports(lab: Lab): string[] {
  return [...lab.plan.servers.map((server) => server.lanPort), 'l-obs'];
}

/** The hub's port to the bridge: a veth pair, `upl` in the hub and `upr` in the bridge. */
export const UPLINK_HUB_PORT = 'upl';
export const UPLINK_BRIDGE_PORT = 'upr';
const joined = new WeakSet<Lab>();

/**
 * Joins the bridge to the hub, once per lab: the bridge holds the agents' uplink host
 * (198.18.0.1, `cluster.uplink_address`), and with the switch ports taken out of it and
 * nothing joining it to the hub, every monitor's uplink check would fail for the whole run,
 * so a monitor that missed the primary would log `uplink-silent` and fence nobody, and the
 * run would count no false alarm at all. `upr` is in the bridge only while the hub runs:
 * `hubPortsOut` and `hubPortsBack` are the `ip` commands that move the switch ports out of
 * the bridge and back; the latter also takes `upr` out, so the bridge forgets the servers'
 * MACs it learned there (left in, it would send their frames into the stopped hub).
 */
export async function joinBridgeToHub(lab: Lab): Promise<string> {
  if (!joined.has(lab)) {
    await ipBatchOnce(lab.plan.lanNetns, [
      `link add ${UPLINK_HUB_PORT} type veth peer name ${UPLINK_BRIDGE_PORT}`,
      `link set ${UPLINK_BRIDGE_PORT} up`,
      `link set ${UPLINK_HUB_PORT} up`,
    ]);
    joined.add(lab);
  }
  return UPLINK_HUB_PORT;
}

export function hubPortsOut(switchPorts: readonly string[]): string[] {
  return [...switchPorts.map((port) => `link set ${port} nomaster`), `link set ${UPLINK_BRIDGE_PORT} master br0`];
}

export function hubPortsBack(switchPorts: readonly string[]): string[] {
  return [`link set ${UPLINK_BRIDGE_PORT} nomaster`, ...switchPorts.map((port) => `link set ${port} master br0`)];
}

function netemArgs(spec: ImpairSpec): string[] {
  return ['loss', `${spec.loss * 100}%`, 'delay', `${spec.delayMs}ms`, `${spec.jitterMs}ms`];
}

export async function netemAvailable(lab: Lab): Promise<boolean> {
  const port = ports(lab)[0] ?? 'l-obs';
  try {
    await exec('tc', ['-n', lab.plan.lanNetns, 'qdisc', 'add', 'dev', port, 'root', 'netem', 'delay', '0ms']);
    await exec('tc', ['-n', lab.plan.lanNetns, 'qdisc', 'del', 'dev', port, 'root']);
    return true;
  } catch {
    return false;
  }
}

async function startNetem(lab: Lab, spec: ImpairSpec): Promise<Impairment> {
  const list = ports(lab);
  const undo = async (): Promise<void> => {
    for (const port of list)
      await exec('tc', ['-n', lab.plan.lanNetns, 'qdisc', 'del', 'dev', port, 'root']).catch(() => undefined);
  };
  const remove = onCleanup(undo);
  for (const port of list)
    await exec('tc', ['-n', lab.plan.lanNetns, 'qdisc', 'replace', 'dev', port, 'root', 'netem', ...netemArgs(spec)]);
  return {
    method: 'tc-netem',
    stop: async () => {
      remove();
      await undo();
      return {
        method: 'tc-netem',
        ports: list,
        spec: `netem ${netemArgs(spec).join(' ')} on each port`,
        counters: null,
        note: 'tc netem on the egress of every switch port in the LAN namespace',
      };
    },
  };
}

async function startHub(lab: Lab, spec: ImpairSpec): Promise<Impairment> {
  const binary = await ensureHub();
  const list = ports(lab);
  const bridgePort = await joinBridgeToHub(lab);
  const argv = [
    binary,
    '--loss',
    String(spec.loss),
    '--delay-us',
    String(Math.round(spec.delayMs * 1000)),
    '--jitter-us',
    String(Math.round(spec.jitterMs * 1000)),
    '--seed',
    String(Date.now()),
    '--fifo',
    '20',
    ...list,
    bridgePort,
  ];
  const hub = lab.group.spawn({ name: 'impair-hub', netns: lab.plan.lanNetns, argv, stdin: true });
  let last: Record<string, number | boolean> | null = null;
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((done) => (readyResolve = done));
  let stderr = '';
  hub.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  if (hub.child.stdout !== null) {
    createInterface({ input: hub.child.stdout }).on('line', (line) => {
      try {
        const value = JSON.parse(line) as Record<string, number | boolean>;
        if (value['ready'] === true) readyResolve();
        else last = value;
      } catch {
        // not ours
      }
    });
  }
  await Promise.race([
    ready,
    hub.exited.then(() => Promise.reject(new Error(`impair hub exited: ${stderr.trim()}`))),
    new Promise((_, fail) => setTimeout(() => fail(new Error('impair hub not ready in 5 s')), 5000)),
  ]);
  let attached = true;
  const undo = async (): Promise<void> => {
    if (!attached) {
      await ipBatchOnce(lab.plan.lanNetns, hubPortsBack(list)).catch(() => undefined);
      attached = true;
    }
    hub.child.stdin?.end();
    await Promise.race([hub.exited, new Promise((done) => setTimeout(done, 2000))]);
    // Its last counters line may be read just after it exited.
    await new Promise((done) => setTimeout(done, 50));
    await hub.stop(1000);
  };
  const remove = onCleanup(undo);
  // Out of the bridge, into the hub: one batch, then the hub starts forwarding.
  await ipBatchOnce(lab.plan.lanNetns, hubPortsOut(list));
  attached = false;
  hub.child.stdin?.write('go\n');
  return {
    method: 'user-space-hub',
    stop: async () => {
      remove();
      await undo();
      return {
        method: 'user-space-hub',
        ports: list,
        spec: `loss ${spec.loss * 100}% delay ${spec.delayMs}ms jitter ${spec.jitterMs}ms (uniform in [delay - jitter, delay + jitter], negative = 0, as netem) per egress port`,
        counters: last,
        note: "this kernel has no sch_netem; the switch ports were taken out of the bridge and a user-space switch (scripts/bench/impair-hub.c, SCHED_FIFO, one forwarding thread per CPU) forwarded between them and the bridge (the uplink host) with netem's semantics, completing checksums left to the NIC",
      };
    },
  };
}

export async function startImpairment(lab: Lab, spec: ImpairSpec): Promise<Impairment> {
  const useNetem = spec.mode === 'netem' || (spec.mode === 'auto' && (await netemAvailable(lab)));
  return useNetem ? startNetem(lab, spec) : startHub(lab, spec);
}
