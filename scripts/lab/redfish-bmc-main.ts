/**
 * One lab server's Redfish BMC as its own process, started by the lab inside the management
 * namespace (`ip netns exec`), where the BMC addresses are:
 *   node redfish-bmc-main.js RUN_DIR SERVER HOST PORT TASK_MS [UUID]
 * The power is the lab's: PowerState from the power file the harness keeps, resets as
 * `chassis` requests on the lab socket, which go through the lab's slow-BMC power side like
 * ipmi_sim's chassis program. Prints `listening` once it accepts connections.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from './control-server.js';
import { RedfishBmc } from './redfish-bmc.js';
import type { ResetType } from './redfish-bmc.js';
import { BMC_USER } from './topology.js';

const CHASSIS: Readonly<Record<ResetType, string>> = {
  On: 'power 1',
  ForceOff: 'power 0',
  GracefulShutdown: 'power 0',
  ForceRestart: 'reset 1',
  // Off, then on once the BMC's power cycle interval has passed (slow-bmc.ts).
  PowerCycle: 'power 0 power 1',
};

async function main(): Promise<void> {
  const [runDir, server, host, port, taskMs, uuid] = process.argv.slice(2);
  if (runDir === undefined || server === undefined || host === undefined || port === undefined)
    throw new Error('usage: redfish-bmc-main RUN_DIR SERVER HOST PORT [TASK_MS]');
  const bmc = new RedfishBmc({
    host,
    port: Number(port),
    cert: await readFile(join(runDir, 'redfish-bmc.pem'), 'utf8'),
    key: await readFile(join(runDir, 'redfish-bmc.key'), 'utf8'),
    user: BMC_USER,
    password: (await readFile(join(runDir, `bmc-${server}.pass`), 'utf8')).replace(/\r?\n$/, ''),
    sessionLimit: 4,
    taskMs: Number(taskMs ?? '0'),
    ...(uuid === undefined ? {} : { uuid }),
    power: {
      state: async () =>
        (await readFile(join(runDir, `power-${server}`), 'utf8')).trim() === 'power:1' ? 'On' : 'Off',
      reset: async (type) => {
        const answer = await request(join(runDir, 'lab.sock'), `chassis ${server} ${CHASSIS[type]}`);
        if (answer.trim() !== '') throw new Error(answer.trim());
      },
    },
  });
  await bmc.listen();
  process.stdout.write('listening\n');
  const stop = (): void => void bmc.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`redfish-bmc: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
