/**
 * The BMC identity check (fencing.bmc_identity): at start, each member's BMC is asked which
 * system it manages (IPMI system GUID, Redfish ComputerSystem UUID), and the answer compared
 * with the member's SMBIOS UUID (`members[].uuid`; for this server itself, when not written,
 * /sys/class/dmi/id/product_uuid). A BMC that manages another system is an alarm: fencing
 * through it would cut the wrong server's power. With `refuse`, such a BMC is not used to
 * fence (the member's other fencing levels still are).
 */
import { readFileSync } from 'node:fs';
import type { BmcFactory } from '../../hal/bmc/index.js';
import { dashed, identityMatches, identityText, uuidHex } from '../../hal/bmc/identity.js';
import type { SystemIdentity } from '../../hal/bmc/identity.js';
import type { Config } from '../config/index.js';
import type { LogFields } from '../log/index.js';
import type { LogLevel } from '../role/index.js';

export type IdentityState = 'match' | 'mismatch' | 'unknown' | 'unchecked';

export interface IdentityOutcome {
  member: string;
  state: IdentityState;
  detail: string;
}

/** Where Linux shows this machine's SMBIOS system UUID (root only). */
export const PRODUCT_UUID_FILE = '/sys/class/dmi/id/product_uuid';

/** This machine's SMBIOS UUID, or null when it cannot be read. */
export function readProductUuid(file = PRODUCT_UUID_FILE): string | null {
  try {
    const hex = uuidHex(readFileSync(file, 'utf8'));
    return hex === null ? null : dashed(hex);
  } catch {
    return null;
  }
}

/** The decision for one member, pure: what its BMC said against what was expected. */
export function judgeIdentity(
  member: string,
  expected: string | null,
  answer: { identity: SystemIdentity } | { error: string } | 'not-supported',
): IdentityOutcome {
  if (expected === null)
    return { member, state: 'unchecked', detail: 'no uuid for this member (cluster.members[].uuid)' };
  if (answer === 'not-supported')
    return { member, state: 'unchecked', detail: 'this BMC client cannot ask for the system identity' };
  if ('error' in answer)
    return { member, state: 'unknown', detail: `cannot read the BMC's system identity: ${answer.error}` };
  if (identityMatches(answer.identity, expected))
    return { member, state: 'match', detail: `${identityText(answer.identity)} is ${expected}` };
  return {
    member,
    state: 'mismatch',
    detail: `the BMC manages another system: ${identityText(answer.identity)}, but ${member}'s uuid is ${expected}`,
  };
}

/** The outcomes of the last check per member, and what they mean for fencing. */
export class BmcIdentityGuard {
  private readonly outcomes = new Map<string, IdentityOutcome>();

  constructor(
    private readonly config: Config,
    private readonly bmcs: BmcFactory,
    private readonly log: (level: LogLevel, event: string, text: string, fields?: LogFields) => void,
    private readonly selfUuid: () => string | null = () => readProductUuid(),
  ) {}

  /** With `refuse`: why `member`'s BMC must not fence (its identity did not match), or null. */
  refusal(member: string): string | null {
    if (this.config.fencing.bmcIdentity !== 'refuse') return null;
    const outcome = this.outcomes.get(member);
    return outcome?.state === 'mismatch' ? `fencing.bmc_identity is refuse and ${outcome.detail}` : null;
  }

  outcome(member: string): IdentityOutcome | null {
    return this.outcomes.get(member) ?? null;
  }

  /** Asks one member's BMC and logs the outcome: a mismatch as an error (the alarm). */
  async check(member: string): Promise<IdentityOutcome> {
    const m = this.config.cluster.members.find((x) => x.name === member);
    const expected = m?.uuid ?? (member === this.config.node ? this.selfUuid() : null);
    let answer: Parameters<typeof judgeIdentity>[2] = 'not-supported';
    if (m?.bmc != null && expected !== null) {
      const bmc = this.bmcs.open(member);
      if (bmc.identity !== undefined)
        answer = await bmc.identity().then(
          (identity) => ({ identity }),
          (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
        );
    }
    const outcome = judgeIdentity(member, expected, answer);
    this.outcomes.set(member, outcome);
    const level: LogLevel = outcome.state === 'mismatch' ? 'error' : outcome.state === 'unknown' ? 'warn' : 'info';
    const refused = outcome.state === 'mismatch' && this.config.fencing.bmcIdentity === 'refuse';
    this.log(
      level,
      outcome.state === 'mismatch' ? 'bmc-identity-mismatch' : 'bmc-identity',
      `${member}'s BMC: ${outcome.state}: ${outcome.detail}${refused ? '; it will not be used to fence' : ''}`,
      { member, state: outcome.state },
    );
    return outcome;
  }
}
