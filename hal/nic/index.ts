/**
 * NIC: the addresses this server holds on its LAN interface, their announcement,
 * conflict detection and the interface's link state.
 *
 * Addresses are given in CIDR form (`198.18.0.10/24`).
 *
 * Contract:
 * - `assign` is idempotent: assigning a held address succeeds and changes nothing.
 * - `release` is idempotent: releasing an address not held succeeds.
 * - `holds` reports the interface's real state, not what this process assigned.
 * - `announce` sends `count` gratuitous ARPs for a held address, `intervalMs` apart, and
 *   resolves when all are sent.
 * - `detectConflict` answers "does another machine use this address?" within about
 *   `windowMs`: an ICMP echo answered, or an ARP reply or concurrent ARP probe from another
 *   MAC (RFC 5227). It may be called for an address this server holds; then another host's
 *   probe alone is no conflict (this server's kernel answers it).
 * - `neighborMac` returns the MAC this server's ARP cache holds for an address, or null.
 * - `setNeighbor` points this server's ARP entry for an address at a MAC (a `reachable`
 *   entry the kernel confirms and ages as usual): a forged ARP reply that repointed it is undone.
 * - `onLink` reports every change of the link's carrier, once per change.
 * - All failures reject with `NicError`, naming the interface and the address.
 */
export interface Nic {
  readonly name: string;
  readonly mac: string;
  assign(address: string): Promise<void>;
  release(address: string): Promise<void>;
  holds(address: string): Promise<boolean>;
  announce(address: string, count: number, intervalMs: number): Promise<void>;
  detectConflict(address: string, windowMs: number): Promise<ConflictReport>;
  /**
   * Watches `address` until `limitMs` or `end()`: RFC 5227 probes at once and every
   * `intervalMs`, and `onSeen` with each observation (`arp-reply MAC`, `arp-probe MAC`; never
   * this NIC's own MAC) as it arrives, so the caller knows when the address was last heard.
   * Null: this driver cannot watch now (the caller runs `detectConflict` instead). ARP only:
   * no ICMP echo.
   */
  watchConflict?(
    address: string,
    intervalMs: number,
    limitMs: number,
    onSeen: (evidence: string) => void,
  ): ConflictWatch | null;
  neighborMac(address: string): Promise<string | null>;
  setNeighbor(address: string, mac: string): Promise<void>;
  linkUp(): Promise<boolean>;
  onLink(listener: (up: boolean) => void): void;
  close(): void;
}

/** A watch in flight (`Nic.watchConflict`). */
export interface ConflictWatch {
  /** Ends it now; idempotent. */
  end(): void;
  /** Settles when it ended; fails when the watch broke (what it heard is then incomplete). */
  readonly ended: Promise<void>;
}

export interface ConflictReport {
  taken: boolean;
  /**
   * Taken only because another machine probed for the same address at the same time, and
   * nobody holds it (RFC 5227 simultaneous probe). Both sides should back off and retry.
   * Drivers that cannot see other probers leave it out.
   */
  contended?: boolean;
  /** What was seen, for the log: `icmp-reply`, `arp-reply 02:..`, `arp-probe 02:..`. */
  evidence: string[];
}
