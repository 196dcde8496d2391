/**
 * Lease enforcer: removes the primary address from this server's interface when its lease
 * runs out, from outside the agent's event loop, so a stalled or killed agent cannot keep
 * the address past its lease (README "Takeover gates", `lease`).
 *
 * Contract:
 * - `hold(untilUs)`: the address may stay until `untilUs` (the Clock's monotonic time, which
 *   is CLOCK_MONOTONIC); at that instant the enforcer deletes it unless a later `hold` moved
 *   the deadline. A deadline never moves earlier by accident: each call sets it as given.
 * - `disarm()`: no deadline (the agent gave the lease up and removes the address itself).
 * - If the agent stops talking to it (killed, hung), the last deadline still fires.
 * - `onExpired` hears each deletion the enforcer made, with how late it was and the deadline
 *   it enforced (null when the enforcer does not say).
 * - `close()`: the agent is going away: no more listeners, but a deadline still armed still
 *   fires (an agent that ends holding the address must not keep it past its lease).
 */
export interface LeaseEnforcer {
  hold(untilUs: number): void;
  disarm(): void;
  onExpired(listener: (lateUs: number, deadlineUs: number | null) => void): void;
  close(): void;
}
