import type { PowerState } from '../../hal/bmc/index.js';
import type { IsolationState, IsolatorFactory } from '../../hal/isolation/index.js';
import type { LevelReading, PowerControl } from './power.js';

/** What `bmc NODE status` answers: the member's power through each fencing level, and its switch port. */
export interface PowerReading {
  member: string;
  /** The first level that answered (level 1, the BMC, when it did). */
  power: PowerState;
  levels: LevelReading[];
  /** The member's switch port (`members[].isolation`), or null when it has none. */
  port: { device: string; state: IsolationState | null; error: string | null } | null;
}

/**
 * Reads a member's power through every fencing level (each with its own client: rmcp,
 * ipmitool, redfish, a fence agent) and its switch port's state. Rejects when no level
 * answered, naming each level's error.
 */
export async function readPower(
  power: PowerControl,
  isolators: IsolatorFactory,
  member: string,
): Promise<PowerReading> {
  const [levels, port] = await Promise.all([power.readLevels(member), readPort(isolators, member)]);
  const answered = levels.find((l) => l.power !== null);
  if (answered?.power == null) {
    const only = levels.length === 1 ? levels[0] : undefined;
    throw new Error(
      only !== undefined
        ? (only.error ?? 'no answer')
        : `no fencing level of ${member} answered: ${levels.map((l) => `level ${l.level} (${l.device}): ${l.error ?? '?'}`).join('; ')}`,
    );
  }
  return { member, power: answered.power, levels, port };
}

async function readPort(isolators: IsolatorFactory, member: string): Promise<PowerReading['port']> {
  if (!isolators.has(member)) return null;
  const isolator = isolators.open(member);
  return isolator.status().then(
    (state) => ({ device: isolator.device, state, error: null }),
    (error: unknown) => ({
      device: isolator.device,
      state: null,
      error: error instanceof Error ? error.message : String(error),
    }),
  );
}
