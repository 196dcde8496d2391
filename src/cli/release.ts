import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../config/index.js';
import { sysfsMac } from '../config/load.js';

const run = promisify(execFile);

/**
 * `hotspare release`: removes the cluster addresses (primary and monitor) from the board's
 * NIC, for a service manager to run after the agent ended (systemd's ExecStopPost). An agent
 * killed (SIGKILL, the watchdog, a crash) leaves them there, answering for a server nothing
 * decides about any more. After a clean stop there is nothing to remove. Returns one line per
 * address removed; errors name the address.
 */
export async function releaseAddresses(configPath: string): Promise<string[]> {
  const config = loadConfig(configPath, { macOf: sysfsMac });
  const nic = config.board.nic;
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', nic]);
  const held = new Set([...stdout.matchAll(/inet (\S+)/g)].map((m) => m[1] ?? ''));
  const done: string[] = [];
  for (const [name, address] of [
    ['primary', config.cluster.primaryAddress],
    ['monitor', config.cluster.monitorAddress],
  ] as const) {
    if (!held.has(address)) continue;
    await run('ip', ['addr', 'del', address, 'dev', nic]);
    done.push(`released the ${name} address ${address} from ${nic} (the agent had ended holding it)`);
  }
  return done;
}
