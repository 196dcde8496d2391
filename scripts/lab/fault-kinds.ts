/** Faults the lab can inject into a server (see `Lab.fail`). */
export type FaultKind = 'crash' | 'hang' | 'cut' | 'bmc-down';
export const FAULT_KINDS: readonly FaultKind[] = ['crash', 'hang', 'cut', 'bmc-down'];
