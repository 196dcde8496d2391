/**
 * Loss and delay on the whole LAN for a while. This kernel has no sch_netem, so the bench's
 * user-space impairing switch (scripts/bench/impair-hub.c, netem's semantics per egress
 * port) carries the LAN: the servers' and the observer's switch ports leave the bridge for
 * the fault's duration. The bridge itself stays reachable through the hub
 * (`joinBridgeToHub`), because it holds the agents' uplink host (198.18.0.1).
 */
import { createInterface } from 'node:readline';
import type { Lab } from '../lab/lab.js';
import { ipBatchOnce } from '../lab/netns.js';
import { ensureHub, hubPortsBack, hubPortsOut, joinBridgeToHub } from '../bench/impair.js';

export interface LanImpairSpec {
  lossPct: number;
  delayMs: number;
  jitterMs: number;
  seed: number;
}

/** Starts the impairment; resolves with its end (ports back in the bridge, hub stopped). */
export async function impairLan(lab: Lab, spec: LanImpairSpec): Promise<() => Promise<void>> {
  const binary = await ensureHub();
  const netns = lab.plan.lanNetns;
  const bridgePort = await joinBridgeToHub(lab);
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
      bridgePort,
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
  await ipBatchOnce(netns, hubPortsOut(ports));
  hub.child.stdin?.write('go\n');
  return async () => {
    await ipBatchOnce(netns, hubPortsBack(ports)).catch(() => undefined);
    hub.child.stdin?.end();
    await Promise.race([hub.exited, new Promise((done) => setTimeout(done, 2000))]);
    await hub.stop(1000);
  };
}
