/** The time windows that several rules and the executor derive from the same settings. */
import type { MachineConfig } from './types.js';

/** How long the monitor takes to call the primary dead: `misses` probes and the last reply's timeout. */
export function detectionUs(c: MachineConfig): number {
  return c.probe.intervalUs * c.probe.misses + c.probe.timeoutUs;
}

/**
 * How long a handover can take on the monitor's side after the primary stepped down: its
 * detection window (a monitor that missed the release detects the silence), the [0013]
 * confirmation, the final sync, and 1 s for the claim to be heard. The releaser serves its
 * files and waits for the acknowledgement this long.
 */
export function handoverWindowUs(c: MachineConfig): number {
  return detectionUs(c) + c.fencing.confirmUs + c.finalSyncUs + 1_000_000;
}
