/**
 * Defending a held address: conflicting ARP from members and strangers, and a member that holds
 * the address at a higher epoch.
 */
import { log } from './actions.js';
import type { Action, AddressName, CheckTarget, Event, MachineConfig, RoleState } from './types.js';
import { MAC, cancelAll, holdsByPhase, onLost } from './phase.js';
import { persistAndReboot } from './roles.js';

/**
 * Only members count: ARP evidence from a MAC that is no member's (a misconfigured host, a
 * forger) is logged as an alarm and dropped, so it never makes a server yield, back off or
 * take another role. Evidence without a MAC (an ICMP reply) cannot be attributed and stays.
 * Returns `e` itself when nothing was dropped.
 */
export function withoutStrangers(
  c: MachineConfig,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): Extract<Event, { type: 'check-result' }> {
  const { evidence, strangers } = splitByMembers(c, e.evidence);
  if (strangers.length === 0) return e;
  const alarm = strangerArp(e.address, strangers);
  out.push(log('error', 'stranger-arp', alarm.message, alarm.fields));
  const taken = e.taken && evidence.length > 0;
  const contended = taken && evidence.every((x) => x.startsWith('arp-probe'));
  const { contended: _dropped, ...rest } = e;
  return contended ? { ...rest, evidence, taken, contended } : { ...rest, evidence, taken };
}

/** The `stranger-arp` alarm's text and fields: ARP for `address` from MACs of no member. */
export function strangerArp(
  address: CheckTarget,
  strangers: readonly string[],
): { message: string; fields: { address: CheckTarget; evidence: string } } {
  const evidence = strangers.join(', ');
  return {
    message: `ARP for the ${address} address from no member (${evidence}): ignored`,
    fields: { address, evidence },
  };
}

/**
 * Splits conflict evidence into what counts (ARP from a member's MAC, and evidence without a
 * MAC, such as an ICMP reply, which cannot be attributed) and ARP from strangers.
 */
export function splitByMembers(
  c: Pick<MachineConfig, 'members'>,
  evidence: readonly string[],
): { evidence: string[]; strangers: string[] } {
  const members = new Set(c.members.map((m) => m.mac.toLowerCase()));
  const strangers: string[] = [];
  const counted = evidence.filter((x) => {
    const mac = x.startsWith('arp-') ? MAC.exec(x)?.[0]?.toLowerCase() : undefined;
    if (mac === undefined || members.has(mac)) return true;
    strangers.push(x);
    return false;
  });
  return { evidence: counted, strangers };
}

export function onDefendResult(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'check-result' }>,
  out: Action[],
): RoleState {
  if (!e.taken || e.contended === true || e.address === 'uplink') return s;
  const own = c.selfMac.toLowerCase();
  const others = e.evidence
    .filter((x) => x.startsWith('arp-reply'))
    .map((x) => MAC.exec(x)?.[0]?.toLowerCase())
    .filter((m): m is string => m !== undefined && m !== own);
  if (others.length === 0) return s;
  const lower = others.filter((m) => m < own);
  // Rule (lease gate): the lease holder keeps the primary address whatever the MACs say; the
  // other holder has no lease, and its enforcer is dropping the address.
  const leased = e.address === 'primary' && c.lease !== null && s.lease.status === 'held';
  if (lower.length === 0 || leased) {
    out.push(
      log(
        'warn',
        'address-conflict',
        leased
          ? `${others.join(', ')} also holds the primary address; this server holds the lease: keeping it`
          : `${others.join(', ')} also holds the ${e.address} address; it has the higher MAC and must yield`,
      ),
    );
    if (leased) out.push({ type: 'announce', address: 'primary' });
    return s;
  }
  const address = e.address;
  out.push(
    log(
      'error',
      'address-conflict',
      `${lower.join(', ')} also holds the ${address} address and has the lower MAC: yielding`,
    ),
  );
  cancelAll(out);
  out.push({ type: 'release', address });
  onLost(s, out);
  // A yielding primary becomes the monitor candidate (FIG. 1 steps 12-14); a yielding
  // monitor re-enters boot as monitor, finds the address taken and waits as a spare.
  return persistAndReboot(
    s,
    'monitor',
    `${address} address also held by ${lower.join(', ')} (lower MAC keeps it)`,
    out,
  );
}

/**
 * Rule: two members holding the same cluster address learn it from each other's
 * authenticated heartbeats (a silent switch port came back, say). The higher (epoch, node)
 * keeps it and re-announces; the other yields at once. Unlike the ARP defence this needs no
 * guess from MACs and cannot be forged by a stranger.
 */
export function onPeerHolds(
  c: MachineConfig,
  s: RoleState,
  e: Extract<Event, { type: 'peer' }>,
  out: Action[],
): RoleState {
  const address: AddressName | null =
    s.phase === 'primary' && e.holdsPrimary ? 'primary' : s.phase === 'monitor' && e.holdsMonitor ? 'monitor' : null;
  if (address === null || s.maintenance || e.node === c.self) return s;
  if (!holdsByPhase(address, e.phase)) {
    // Rule: a member whose phase no longer holds the address is giving it up (it yielded, its
    // link went down, it halted): its executor has not released it yet, and its epoch is
    // already the next role's. Yielding to that epoch would leave nobody holding the address
    // (the fault campaign's double yields); keep it and re-announce.
    out.push(
      log(
        'info',
        'address-conflict',
        `${e.node} still holds the ${address} address in phase ${e.phase} (giving it up): keeping it`,
        { peer: e.node, peerEpoch: e.epoch, epoch: s.epoch, address },
      ),
    );
    out.push({ type: 'announce', address });
    return s;
  }
  // Rule (lease gate): a primary holding a lease keeps the address whatever the other says:
  // leases are exclusive, so the other's lease ran out and its enforcer is dropping it.
  const leased = address === 'primary' && c.lease !== null && s.lease.status === 'held';
  const theyWin = !leased && (e.epoch > s.epoch || (e.epoch === s.epoch && e.node > c.self));
  const fields = { peer: e.node, peerEpoch: e.epoch, epoch: s.epoch, address };
  if (!theyWin) {
    out.push(
      log(
        'warn',
        'address-conflict',
        leased
          ? `${e.node} says it holds the ${address} address at epoch ${e.epoch}; this server holds the lease: keeping it`
          : `${e.node} also holds the ${address} address at epoch ${e.epoch}; ours (${s.epoch}) is higher: keeping it`,
        fields,
      ),
    );
    out.push({ type: 'announce', address });
    return s;
  }
  out.push(
    log(
      'error',
      'address-conflict',
      `${e.node} also holds the ${address} address at a higher epoch (${e.epoch} over our ${s.epoch}): yielding`,
      fields,
    ),
  );
  cancelAll(out);
  out.push({ type: 'release', address });
  onLost(s, out);
  return persistAndReboot(
    s,
    'monitor',
    `${address} address also held by ${e.node} at epoch ${e.epoch} (the higher epoch keeps it)`,
    out,
  );
}
