import { startLab } from '../lab/lab.js';
import type { Lab, LabOptions } from '../lab/lab.js';
import { withCleanup } from './cleanup.js';

/** How every benchmark lab's BMCs behave (BENCH_BMC_OFF_DELAY_MS, BENCH_BMC_ACK_DELAY_MS). */
const bmcBehaviour: Pick<LabOptions, 'bmcOffDelayMs' | 'bmcAckDelayMs'> = {};

export function setLabBmcBehaviour(offDelayMs: number, ackDelayMs: number): void {
  bmcBehaviour.bmcOffDelayMs = offDelayMs;
  bmcBehaviour.bmcAckDelayMs = ackDelayMs;
}

/** A lab for `body`, stopped afterwards, also when the benchmark is interrupted or fails. */
export async function withLab<T>(options: LabOptions, body: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await startLab({ ...bmcBehaviour, ...options });
  return withCleanup(
    () => lab.stop(),
    () => body(lab),
  );
}
