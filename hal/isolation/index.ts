/**
 * Isolation: cut one member off the service LAN without waiting for its power (its switch
 * port shut, as fence_ifmib does), and read the cut back. The `isolated` takeover gate claims
 * once the old holder's cut is read back, while its power-off runs on (README "Takeover gates").
 *
 * Contract:
 * - `isolate()` resolves only after the device reads the member's port back as cut; it
 *   rejects with `IsolationError` otherwise (kinds as for BMCs).
 * - `restore()` reconnects the member and resolves once it reads back as connected. Callers
 *   restore only after the member's power-off was confirmed: a server that was cut off while
 *   still running must not rejoin the LAN holding the primary address.
 * - `status()` returns the port state as the device reports it.
 * - Both are idempotent. Errors never contain the device's secret.
 */
export interface Isolator {
  readonly member: string;
  /** Where the cut is made, for logs (`switch 198.18.0.1 ifIndex 7`); no secret in it. */
  readonly device: string;
  isolate(): Promise<void>;
  restore(): Promise<void>;
  status(): Promise<IsolationState>;
}

export type IsolationState = 'isolated' | 'connected';

/** The isolation devices of the cluster: not every member needs one. */
export interface IsolatorFactory {
  /** True when `member` has an isolation device configured. */
  has(member: string): boolean;
  open(member: string): Isolator;
}

/** No member has an isolation device (the `confirmed` and `lease` gates need none). */
export const NO_ISOLATORS: IsolatorFactory = {
  has: () => false,
  open: (member) => {
    throw new Error(`no isolation device is configured for member '${member}'`);
  },
};
