import { startLab } from '../lab/lab.js';
import type { Lab, LabOptions } from '../lab/lab.js';
import { withCleanup } from './cleanup.js';

/** A lab for `body`, stopped afterwards, also when the benchmark is interrupted or fails. */
export async function withLab<T>(options: LabOptions, body: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await startLab(options);
  return withCleanup(
    () => lab.stop(),
    () => body(lab),
  );
}
