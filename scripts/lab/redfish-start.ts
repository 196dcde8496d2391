/** The lab's Redfish BMCs: one process per server in the management namespace, with a CA made for the run. */
import type { ManagedProcess, ProcessGroup } from './children.js';
import { systemUuid } from './bmc-sim.js';
import { redfishBmcMain } from './paths.js';
import { makeRedfishTls } from './redfish-ca.js';
import type { RedfishTls } from './redfish-ca.js';
import type { LabPlan, ServerPlan } from './topology.js';

/** Where the lab's Redfish BMCs listen (HTTPS), on each BMC address. */
export const REDFISH_PORT = 8443;

/**
 * Starts a Redfish BMC for every server and resolves, with the run's TLS material, once all
 * of them listen. `taskMs` > 0: resets are answered 202 with a task that ends that much later.
 * `started` hands each process over as soon as it is spawned, so the caller can stop it.
 */
export async function startRedfishBmcs(
  group: ProcessGroup,
  plan: LabPlan,
  taskMs: number,
  started: (server: ServerPlan, child: ManagedProcess) => void,
): Promise<RedfishTls> {
  const tls = await makeRedfishTls(
    plan.runDir,
    plan.servers.map((server) => server.bmcHost),
  );
  await Promise.all(
    plan.servers.map(async (server) => {
      const child = group.spawn({
        name: `redfish-${server.name}`,
        netns: plan.mgmtNetns,
        argv: [
          process.execPath,
          redfishBmcMain(),
          plan.runDir,
          server.name,
          server.bmcHost,
          String(REDFISH_PORT),
          String(taskMs),
          systemUuid(plan, server),
        ],
      });
      started(server, child);
      await listening(child, `redfish-${server.name}`);
      // Drained from here on, so a chatty BMC never blocks on a full pipe.
      child.child.stdout?.resume();
      child.child.stderr?.resume();
    }),
  );
  return tls;
}

/** Resolves when the process says `listening`; rejects if it exits first or stays silent 10 s. */
function listening(child: ManagedProcess, name: string): Promise<void> {
  let output = '';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen: ${output}`)), 10_000);
    const seen = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.child.stdout?.on('data', seen);
    child.child.stderr?.on('data', seen);
    void child.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited: ${output}`));
    });
  });
}
