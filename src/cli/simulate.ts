import { SimCluster } from '../sim/cluster.js';

export interface SimulateOptions {
  nodes: number;
  seed: number;
  seconds: number;
  killPrimaryAtS: number | null;
  /** Unplug the primary's LAN cable at this second (it stays powered until fenced). */
  cutPrimaryAtS?: number | null;
  /** The BMCs' delay from an acknowledged power off to the power going off. */
  bmcOffDelayMs?: number;
}

/**
 * `hotspare simulate`: a cluster of simulated servers in virtual time, printing every role
 * transition. Optionally cuts the primary's power (or its LAN cable) to show a takeover.
 */
export async function simulate(options: SimulateOptions, print: (line: string) => void): Promise<boolean> {
  const cluster = new SimCluster({
    nodes: options.nodes,
    seed: options.seed,
    bmcOffDelayUs: (options.bmcOffDelayMs ?? 0) * 1000,
  });
  const printed = new Set<string>();
  const flush = (): void => {
    const lines = [...cluster.nodes.values()].flatMap((n) =>
      n.log
        .all()
        .filter(
          (l) =>
            l.event === 'transition' ||
            l.event === 'fence-done' ||
            l.event === 'fence-error' ||
            l.event === 'power-on' ||
            l.event === 'primary-down' ||
            l.event === 'primary-silent' ||
            l.event === 'lease-refused',
        )
        .map((l) => ({ at: l.atUs, text: `${(l.atUs / 1000).toFixed(1).padStart(9)} ms  ${n.name}  ${l.message}` })),
    );
    for (const line of lines.sort((a, b) => a.at - b.at)) {
      if (printed.has(line.text)) continue;
      printed.add(line.text);
      print(line.text);
    }
  };
  await cluster.bootAll();
  const end = options.seconds * 1_000_000;
  const faultAtS = options.killPrimaryAtS ?? options.cutPrimaryAtS ?? null;
  if (faultAtS !== null) {
    await cluster.clock.runUntil(faultAtS * 1_000_000);
    flush();
    const [primary] = cluster.primaryHolders();
    const what = options.killPrimaryAtS !== null ? 'power loss' : 'LAN cable cut';
    print(`${(cluster.clock.nowUs() / 1000).toFixed(1).padStart(9)} ms  --- ${what} on ${primary ?? 'nobody'} ---`);
    if (primary !== undefined && options.killPrimaryAtS !== null) cluster.powerOff(primary);
    else if (primary !== undefined) cluster.node(primary).host.setCable(false);
  }
  await cluster.clock.runUntil(end);
  flush();
  print(
    `after ${options.seconds} s: ${Object.entries(cluster.phases())
      .map(([n, p]) => `${n}=${p}`)
      .join(' ')}; primary address held by ${cluster.primaryHolders().join(',') || 'nobody'}`,
  );
  await cluster.stop();
  return cluster.converged();
}
