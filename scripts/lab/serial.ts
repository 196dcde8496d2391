import { access } from 'node:fs/promises';
import type { ManagedProcess, ProcessGroup } from './children.js';
import { sleep } from './exec.js';

/**
 * A serial console: a `socat` pty pair. The agent opens one end (its serial device), ipmi_sim
 * the other (its `sol` device). Resolves when both links exist.
 */
export async function startSerialPair(
  group: ProcessGroup,
  name: string,
  agentEnd: string,
  bmcEnd: string,
  logFile: string,
): Promise<ManagedProcess> {
  const socat = group.spawn({
    name: `serial-${name}`,
    argv: ['socat', '-d', `pty,raw,echo=0,link=${agentEnd}`, `pty,raw,echo=0,link=${bmcEnd}`],
    logFile,
  });
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const ready = await Promise.all([access(agentEnd), access(bmcEnd)]).then(
      () => true,
      () => false,
    );
    if (ready) {
      return socat;
    }
    if (!socat.running) {
      break;
    }
    await sleep(5);
  }
  throw new Error(`serial-${name}: socat did not create ${agentEnd} and ${bmcEnd}`);
}
