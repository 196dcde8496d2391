/**
 * Peer datagrams: the transport of the authenticated heartbeat between members, on one or
 * two paths (the service LAN, and optionally the management LAN).
 *
 * Contract:
 * - The driver is built with the local address of each path and one port; it binds one
 *   socket per path on (address, port). A path whose address is not there yet (the
 *   interface is not up, the address not yet assigned) is bound later, retried by the driver:
 *   that is never an error. Until a path is bound, what is sent on it is dropped.
 * - `send(path, address, port, data)` hands one datagram to the path's socket, addressed to
 *   `address` (IPv4, no prefix). It never throws for an unreachable or silent peer, or for
 *   a path not yet bound; it throws `PeerError` only after `close()`.
 * - `onDatagram` receives every datagram that arrives on a bound path's socket, as is: no
 *   filtering, no authentication (that is the caller's job), with the path it came in on,
 *   the sender's address and port, and `receivedUs` on the caller's monotonic clock, taken
 *   as close to arrival as the driver can.
 * - `close()` closes every socket and stops retries; nothing is delivered afterwards.
 */
export interface PeerTransport {
  send(path: PeerPathName, address: string, port: number, data: Uint8Array): void;
  onDatagram(listener: (datagram: PeerDatagram) => void): void;
  /** Which paths are bound now (test and status aid). */
  bound(): PeerPathName[];
  close(): void;
}

/** `lan`: the service LAN (members' fixed addresses); `mgmt`: the management LAN. */
export type PeerPathName = 'lan' | 'mgmt';

export interface PeerBinding {
  path: PeerPathName;
  /** This member's own address on that path, IPv4 without prefix. */
  address: string;
}

export interface PeerDatagram {
  path: PeerPathName;
  from: string;
  fromPort: number;
  data: Uint8Array;
  receivedUs: number;
}

export const PEER_PATHS: readonly PeerPathName[] = ['lan', 'mgmt'];
