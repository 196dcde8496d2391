/** Faults the lab can inject into a server (see `Lab.fail`). */
/**
 * `silence`: the server's switch port stops forwarding (bridge port state disabled) while
 * both ends keep their link: nobody hears the server and it hears nobody, and its agent sees
 * no link change.
 */
export type FaultKind = 'crash' | 'hang' | 'cut' | 'silence' | 'bmc-down';
export const FAULT_KINDS: readonly FaultKind[] = ['crash', 'hang', 'cut', 'silence', 'bmc-down'];
