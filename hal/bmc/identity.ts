/**
 * The identity of the system a BMC manages, to check that a member's BMC is that member's
 * (a swapped cable or a wrong address in the config would fence the wrong server). IPMI's Get
 * System GUID answers 16 bytes whose byte order vendors disagree on; Redfish's ComputerSystem
 * has a UUID string. Both are compared with the member's SMBIOS system UUID (what Linux shows
 * in /sys/class/dmi/id/product_uuid and dmidecode prints).
 */

export type SystemIdentity = { source: 'ipmi-guid'; bytes: Uint8Array } | { source: 'redfish-uuid'; uuid: string };

/** A UUID as 32 lower-case hex digits, or null when it is not one. */
export function uuidHex(text: string): string | null {
  const hex = text.replace(/-/g, '').trim().toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex) ? hex : null;
}

/** Dashed, lower-case spelling of 32 hex digits. */
export function dashed(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The UUIDs 16 GUID bytes may stand for: in wire order (RFC 4122), with the first three
 * fields little-endian (SMBIOS 2.6+, as Linux prints product_uuid), and all 16 reversed (the
 * IPMI specification's least-significant-byte-first order). BMCs in the field use each.
 */
export function guidReadings(bytes: Uint8Array): string[] {
  const hex = Buffer.from(bytes).toString('hex');
  const swap = (h: string): string => (h.match(/../g) ?? []).reverse().join('');
  const smbios = `${swap(hex.slice(0, 8))}${swap(hex.slice(8, 12))}${swap(hex.slice(12, 16))}${hex.slice(16)}`;
  return [...new Set([hex, smbios, swap(hex)])];
}

/** True when the BMC's identity is the UUID `expected` (any spelling with or without dashes). */
export function identityMatches(identity: SystemIdentity, expected: string): boolean {
  const want = uuidHex(expected);
  if (want === null) return false;
  if (identity.source === 'redfish-uuid') return uuidHex(identity.uuid) === want;
  return identity.bytes.length === 16 && guidReadings(identity.bytes).includes(want);
}

/** The identity as text for logs: the UUID, or the GUID bytes in wire order. */
export function identityText(identity: SystemIdentity): string {
  if (identity.source === 'redfish-uuid') return `Redfish UUID ${identity.uuid}`;
  return `IPMI system GUID ${Buffer.from(identity.bytes).toString('hex')}`;
}
