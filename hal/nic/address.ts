/** The address form both NIC drivers take: `a.b.c.d` or `a.b.c.d/len`. */
export interface Ipv4 {
  ip: string;
  /** null when the address was given without a prefix length. */
  prefix: number | null;
}

/** `a.b.c.d` or `a.b.c.d/len`, strictly (the text ends up on ip's batch input). */
export function parseIpv4(address: string): Ipv4 | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(address);
  if (match === null) {
    return null;
  }
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((octet) => octet > 255)) {
    return null;
  }
  const prefix = match[5] === undefined ? null : Number(match[5]);
  if (prefix !== null && prefix > 32) {
    return null;
  }
  return { ip: octets.join('.'), prefix };
}

/** An Ethernet MAC as `xx:xx:xx:xx:xx:xx`, strictly (the text ends up on ip's batch input). */
export function isMac(text: string): boolean {
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(text);
}
