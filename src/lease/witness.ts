/**
 * The lease witness (`hotspare witness`, README "Takeover gates"): a voter of the lease gate
 * that is no member. It answers lease requests by the same voter rule as every member
 * (./rules.ts: quiet for Q after it starts, one promise at a time, epochs never go back), so
 * two members and a witness are three voters and either member has a majority with it. It
 * holds no address, claims nothing, sends no heartbeat and fences nobody.
 */
import type { Clock } from '../../hal/clock/index.js';
import type { PeerTransport } from '../../hal/peer/index.js';
import type { LogFields } from '../log/index.js';
import type { PeerMemberAddresses } from '../peer/heartbeat.js';
import type { PeerKey } from '../peer/key.js';
import type { LogLevel } from '../role/types.js';
import { promiseUs } from './rules.js';
import type { LeaseTiming } from './rules.js';
import { LeaseService } from './service.js';
import type { LeaseStatus } from './service.js';

export interface LeaseWitnessOptions {
  /** The witness's name (`lease.witness.name`). */
  self: string;
  /** Every voter, the witness included (leaseVoters). */
  voters: readonly PeerMemberAddresses[];
  port: number;
  key: PeerKey;
  transport: PeerTransport;
  clock: Clock;
  nonce: Uint8Array;
  timing: LeaseTiming;
  log: (level: LogLevel, event: string, message: string, fields?: LogFields) => void;
}

export class LeaseWitness {
  private readonly service: LeaseService;
  /** Who the witness last granted, and at which epoch: a change is logged, renewals are not. */
  private grantedTo: { from: string; epoch: number } | null = null;
  /** The last refusal's reason per requester: logged when it changes. */
  private readonly refused = new Map<string, string>();

  constructor(o: LeaseWitnessOptions) {
    const never = (what: string) => (): void => {
      throw new Error(`the lease witness never claims, yet its lease service reported ${what}`);
    };
    this.service = new LeaseService({
      self: o.self,
      members: o.voters,
      port: o.port,
      key: o.key,
      transport: o.transport,
      clock: o.clock,
      nonce: o.nonce,
      timing: o.timing,
      // Never used: the witness never asks for a lease.
      renewUs: o.timing.durationUs,
      enforcer: null,
      holdsPrimary: () => false,
      onHeld: never('a lease held'),
      onLost: never('a lease lost'),
      onYield: never('a claim given up'),
      log: o.log,
      onVote: (from, epoch, vote) => {
        if (vote.granted) {
          this.refused.delete(from);
          if (this.grantedTo?.from === from && this.grantedTo.epoch === epoch) return;
          this.grantedTo = { from, epoch };
          o.log('info', 'witness-grant', `granting ${from}'s lease at epoch ${epoch}`, { to: from, epoch });
          return;
        }
        // The quiet period's countdown changes with every request: log its kind once.
        const kind = vote.reason.replace(/[0-9]+ ms/g, 'N ms');
        if (this.refused.get(from) === kind) return;
        this.refused.set(from, kind);
        o.log('info', 'witness-refusal', `refusing ${from}'s lease at epoch ${epoch}: ${vote.reason}`, {
          to: from,
          epoch,
        });
      },
    });
    o.log(
      'info',
      'witness-started',
      `lease witness ${o.self} voting among ${o.voters.map((v) => v.name).join(', ')}; quiet for ${(promiseUs(o.timing) / 1000).toFixed(2)} ms after this start`,
      { voters: o.voters.length },
    );
  }

  status(): LeaseStatus {
    return this.service.status();
  }

  stop(): void {
    this.service.stop();
  }
}
