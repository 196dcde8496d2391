/**
 * Loss and delay on the whole LAN for a while. This kernel has no sch_netem, so the bench's
 * user-space impairing switch (scripts/bench/impair-hub.c, netem's semantics per egress
 * port) carries the LAN: the servers' and the observer's switch ports leave the bridge for
 * the fault's duration. Unlike the bench, the bridge itself stays reachable through the hub:
 * a veth pair (`upl` in the hub, `upr` in the bridge) joins them, because the bridge holds
 * the agents' uplink host (198.18.0.1), and a LAN without its uplink would make every
 * monitor refuse to fence (cluster.uplink_address) rather than face loss and delay.
 */
import { createInterface } from 'node:readline';
import type { Lab } from '../lab/lab.js';
import { ipBatchOnce } from '../lab/netns.js';
import { ensureHub } from '../bench/impair.js';

export interface LanImpairSpec {
  lossPct: number;
  delayMs: number;
  jitterMs: number;
  seed: number;
}

const UPLINK_HUB_PORT = 'upl';
const UPLINK_BRIDGE_PORT = 'upr';
const prepared = new WeakSet<Lab>();

/** Starts the impairment; resolves with its end (ports back in the bridge, hub stopped). */
export async function impairLan(lab: Lab, spec: LanImpairSpec): Promise<() => Promise<void>> {
  const binary = await ensureHub();
  const netns = lab.plan.lanNetns;
  if (!prepared.has(lab)) {
    await ipBatchOnce(netns, [
      `link add ${UPLINK_HUB_PORT} type veth peer name ${UPLINK_BRIDGE_PORT}`,
      `link set ${UPLINK_BRIDGE_PORT} master br0 up`,
      `link set ${UPLINK_HUB_PORT} up`,
    ]);
    prepared.add(lab);
  }
  const ports = [...lab.plan.servers.map((server) => server.lanPort), 'l-obs'];
  const hub = lab.group.spawn({
    name: 'soak-impair-hub',
    netns,
    argv: [
      binary,
      '--loss',
      String(spec.lossPct / 100),
      '--delay-us',
      String(Math.round(spec.delayMs * 1000)),
      '--jitter-us',
      String(Math.round(spec.jitterMs * 1000)),
      '--seed',
      String(spec.seed),
      '--fifo',
      '20',
      ...ports,
      UPLINK_HUB_PORT,
    ],
    stdin: true,
  });
  let stderr = '';
  hub.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const ready = new Promise<void>((resolve) => {
    if (hub.child.stdout === null) return;
    createInterface({ input: hub.child.stdout }).on('line', (line) => {
      if (line.includes('"ready":true')) resolve();
    });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      hub.exited.then(() => Promise.reject(new Error(`impair hub exited: ${stderr.trim()}`))),
      new Promise((_, fail) => {
        timer = setTimeout(() => fail(new Error('impair hub not ready in 5 s')), 5000);
      }),
    ]);
  } catch (error) {
    await hub.stop(1000);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  hub.child.stdout?.resume();
  await ipBatchOnce(
    netns,
    ports.map((port) => `link set ${port} nomaster`),
  );
  hub.child.stdin?.write('go\n');
  return async () => {
    await ipBatchOnce(
      netns,
      ports.map((port) => `link set ${port} master br0`),
    ).catch(() => undefined);
    hub.child.stdin?.end();
    await Promise.race([hub.exited, new Promise((done) => setTimeout(done, 2000))]);
    await hub.stop(1000);
  };
}
