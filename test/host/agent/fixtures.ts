import { expect } from 'chai';
import type { SimCluster } from '../../../src/sim/cluster.js';

/** Boots every server and runs until the cluster converges (it must). */
export async function converge(cluster: SimCluster): Promise<void> {
  await cluster.bootAll();
  for (let i = 0; i < 200 && !cluster.converged(); i++) await cluster.clock.runFor(50_000);
  expect(cluster.converged()).to.equal(true);
}

/** The server in `phase` (the first one). */
export function nodeIn(cluster: SimCluster, phase: string): string {
  const entry = Object.entries(cluster.phases()).find(([, p]) => p === phase);
  if (entry === undefined) throw new Error(`nobody is ${phase}`);
  return entry[0];
}
