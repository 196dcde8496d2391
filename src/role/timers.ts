/** The role machine's timers, by name: the executor arms them and feeds them back as `timer` events. */
export const TIMER = {
  bootDelay: 'boot-delay',
  fenceRetry: 'fence-retry',
  spareCheck: 'spare-check',
  health: 'health',
  announce: 'announce-refresh',
  confirmRetry: 'confirm-retry',
  defend: 'defend',
  /** The primary's wait after the monitor fell silent on every path (dead-monitor.ts). */
  deadMonitor: 'dead-monitor',
  leaseTimeout: 'lease-timeout',
  /** The longest a takeover waits for a handover's final sync (sync.final_ms). */
  finalSync: 'final-sync',
  /** A halted server's next try at boot (after a failed persist). */
  haltRetry: 'halt-retry',
} as const;

export type TimerName = (typeof TIMER)[keyof typeof TIMER];
