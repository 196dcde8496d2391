/**
 * Split-brain check over recorded address and link changes: reports every interval during
 * which two or more servers held the same address on a usable link: the server's eth0 up with
 * carrier AND its switch port (the veth peer in the LAN namespace) up. The port matters because
 * after a `cut` the kernel reports the lost carrier on eth0 only through linkwatch, up to about
 * a second later, while the port's admin-down is reported at once. A silenced port (`Lab.silence`:
 * bridge port state disabled, link up) is not usable either; it is a state of its own, not the
 * port's admin state: an isolating fence's admin-down while silenced, and the silence's undo
 * then, leave the port down. A port that goes down (admin, or its server's carrier) loses
 * the silence: the bridge (no STP) forwards on it again when it comes back up.
 * Pure: the caller supplies the initial state and the events, each with one common time base.
 */
import { bare } from './topology.js';

export interface HolderState {
  linkUp: boolean;
  /** The switch port; default up. */
  portUp?: boolean;
  /** Addresses on the LAN interface, CIDR or bare. */
  addresses: readonly string[];
}

export type HolderEvent =
  | { server: string; atUs: number; kind: 'link'; up: boolean }
  | { server: string; atUs: number; kind: 'port'; up: boolean }
  /** `Lab.silence` (up false) and its end (up true): the port's forwarding, not its admin state. */
  | { server: string; atUs: number; kind: 'silence'; up: boolean }
  | { server: string; atUs: number; kind: 'addr'; address: string; deleted: boolean };

export interface Violation {
  address: string;
  startUs: number;
  /** null while still going on at the end of the events. */
  endUs: number | null;
  servers: string[];
}

export function findViolations(
  initial: Readonly<Record<string, HolderState>>,
  events: readonly HolderEvent[],
  address: string,
  minDurationUs = 0,
): Violation[] {
  const wanted = bare(address);
  const state = new Map<string, { up: boolean; port: boolean; forwarding: boolean; holds: boolean }>();
  for (const [server, holder] of Object.entries(initial)) {
    state.set(server, {
      up: holder.linkUp,
      port: holder.portUp ?? true,
      forwarding: true,
      holds: holder.addresses.some((held) => bare(held) === wanted),
    });
  }
  const ordered = [...events].sort((a, b) => a.atUs - b.atUs);
  const violations: Violation[] = [];
  let open: Violation | null = null;
  const check = (atUs: number): void => {
    const holders = [...state.entries()]
      .filter(([, s]) => s.up && s.port && s.forwarding && s.holds)
      .map(([server]) => server)
      .sort();
    const same = open !== null && open.servers.join() === holders.join();
    if (open !== null && !same) {
      open.endUs = atUs;
      violations.push(open);
      open = null;
    }
    if (holders.length >= 2 && open === null) {
      open = { address: wanted, startUs: atUs, endUs: null, servers: holders };
    }
  };
  check(ordered[0]?.atUs ?? 0);
  let i = 0;
  while (i < ordered.length) {
    const atUs = ordered[i]?.atUs ?? 0;
    // Apply every event of the same instant before checking.
    while (i < ordered.length && ordered[i]?.atUs === atUs) {
      const event = ordered[i];
      i += 1;
      if (event === undefined) {
        continue;
      }
      const current = state.get(event.server) ?? { up: false, port: true, forwarding: true, holds: false };
      if (event.kind === 'link') {
        current.up = event.up;
        if (!event.up) current.forwarding = true;
      } else if (event.kind === 'port') {
        current.port = event.up;
        if (!event.up) current.forwarding = true;
      } else if (event.kind === 'silence') {
        current.forwarding = event.up;
      } else if (bare(event.address) === wanted) {
        current.holds = !event.deleted;
      }
      state.set(event.server, current);
    }
    check(atUs);
  }
  if (open !== null) {
    violations.push(open);
  }
  return violations.filter((v) => v.endUs === null || v.endUs - v.startUs >= minDurationUs);
}
