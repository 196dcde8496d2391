/**
 * IPv4 addresses with prefix length as the config writes them (`198.18.0.10/24`): strict
 * dotted decimal, and only addresses a server can hold on a LAN. Pure.
 */

export interface Ipv4Cidr {
  /** Canonical dotted decimal, no leading zeros. */
  address: string;
  prefix: number;
  /** The address as an unsigned 32-bit number, for comparisons. */
  value: number;
}

const SHAPE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,3})$/;

/** Blocks no server may hold as a LAN address, each with the reason given to the operator. */
const SPECIAL: ReadonlyArray<{ base: number; bits: number; why: string }> = [
  { base: 0x00000000, bits: 8, why: 'is in 0.0.0.0/8, "this network" (RFC 1122): not an address a host can hold' },
  { base: 0x7f000000, bits: 8, why: 'is in 127.0.0.0/8, loopback: it never leaves this server' },
  { base: 0xe0000000, bits: 4, why: 'is in 224.0.0.0/4, multicast: not a host address' },
  { base: 0xf0000000, bits: 4, why: 'is in 240.0.0.0/4, reserved (255.255.255.255 is the limited broadcast)' },
];

/** Parses `a.b.c.d/len`; a string says why it is not a usable address. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | string {
  const match = SHAPE.exec(text);
  if (match === null) return `must be an IPv4 address with prefix length, like 198.18.0.10/24; got ${show(text)}`;
  const parts = match.slice(1, 6).map((part) => part ?? '');
  // Rule: some tools read 010 as octal (8), others as decimal (10): two servers could
  // disagree about the address, so only the unambiguous spelling is accepted.
  const padded = parts.find((part) => part.length > 1 && part.startsWith('0'));
  if (padded !== undefined)
    return `${show(text)} has a leading zero in ${show(padded)}: some tools read that as octal, others as decimal; write ${show(canonical(parts))}`;
  const octets = parts.slice(0, 4).map(Number);
  if (octets.some((octet) => octet > 255)) return `${show(text)}: each of the four numbers must be 0-255`;
  const prefix = Number(parts[4]);
  if (prefix === 0) return `${show(text)}: prefix /0 would put every IPv4 address on this LAN; use the LAN's prefix`;
  if (prefix > 32) return `${show(text)}: the prefix length must be 1-32`;
  const value = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const problem = specialProblem(value, prefix);
  if (problem !== null) return `${show(text)} ${problem}`;
  return { address: octets.join('.'), prefix, value };
}

/** Why a parsed address cannot be a server's LAN address, or null when it can. */
function specialProblem(value: number, prefix: number): string | null {
  if (value === 0xffffffff) return 'is the limited broadcast address: not a host address';
  const block = SPECIAL.find((s) => inBlock(value, s.base, s.bits));
  if (block !== undefined) return block.why;
  // With /31 and /32 every address is a host address (RFC 3021); below that the first and
  // the last address of the subnet are its network and broadcast addresses.
  if (prefix <= 30) {
    const hostBits = 32 - prefix;
    const host = value % 2 ** hostBits;
    if (host === 0) return `is the network address of its /${prefix} subnet: not a host address`;
    if (host === 2 ** hostBits - 1) return `is the broadcast address of its /${prefix} subnet: not a host address`;
  }
  return null;
}

function inBlock(value: number, base: number, bits: number): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(value / size) === Math.floor(base / size);
}

function canonical(parts: readonly string[]): string {
  const numbers = parts.map(Number);
  return `${numbers.slice(0, 4).join('.')}/${numbers[4] ?? ''}`;
}

function show(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}
