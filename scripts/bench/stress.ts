/**
 * stress-ng as a child of the benchmark: in the root network namespace (CPU load only, no
 * network), as init of its own PID namespace so that ending it ends every worker it forked
 * (this machine's PID 1 does not reap orphans), and with its own --timeout as a last bound.
 */
import { ProcessGroup } from '../lab/children.js';
import type { ManagedProcess } from '../lab/children.js';
import { onCleanup } from './cleanup.js';

export interface StressHandle {
  argv: string[];
  stop(): Promise<void>;
}

export async function startStress(
  workers: number,
  seconds: number,
  cpuList: string | null = null,
): Promise<StressHandle> {
  const group = new ProcessGroup();
  const argv = ['stress-ng', '--cpu', String(workers), '--timeout', `${Math.ceil(seconds) + 30}s`, '--quiet'];
  if (cpuList !== null) argv.push('--taskset', cpuList);
  const process: ManagedProcess = group.spawn({ name: 'stress-ng', argv, pidNamespace: true });
  await process.waitInner(3000, 'stress-ng');
  const stop = async (): Promise<void> => {
    await process.stop(2000);
  };
  const remove = onCleanup(stop);
  return {
    argv,
    stop: async () => {
      remove();
      await stop();
    },
  };
}
