/**
 * Parses lines of `ip -ts -o monitor address link`, e.g.
 *   [2026-11-26T15:49:13.675651] 2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 ... state UP ...
 *   [2026-11-26T15:49:13.803308] 2: eth0    inet 198.18.0.10/24 scope global secondary eth0\ ...
 *   [2026-11-26T15:49:14.072005] Deleted 2: eth0    inet 198.18.0.10/24 scope global secondary eth0\ ...
 * The timestamp is local wall-clock time with microseconds.
 */
export type MonitorEvent =
  | { kind: 'link'; wallUs: number; ifname: string; flags: string[]; up: boolean; deleted: boolean }
  | { kind: 'addr'; wallUs: number; ifname: string; address: string; deleted: boolean };

const STAMP = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{1,6})\]\s*(.*)$/;
const LINK = /^(\d+): ([^\s:@]+)(?:@[^\s:]+)?: <([^>]*)>/;
const ADDR = /^(\d+): (\S+)\s+inet (\d+\.\d+\.\d+\.\d+\/\d+)\s/;

/** True when flags say the link can carry traffic: administratively up and carrier present. */
export function linkUsable(flags: readonly string[]): boolean {
  return flags.includes('UP') && flags.includes('LOWER_UP') && !flags.includes('NO-CARRIER');
}

export function parseMonitorLine(line: string): MonitorEvent | null {
  const stamp = STAMP.exec(line);
  if (stamp === null) {
    return null;
  }
  const [, year, month, day, hour, minute, second, fraction, restRaw] = stamp;
  const wallMs = new Date(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  ).getTime();
  const wallUs = wallMs * 1000 + Number((fraction ?? '0').padEnd(6, '0'));
  let rest = (restRaw ?? '').replace(/^\[(?:LINK|ADDR)\]\s*/, '');
  let deleted = false;
  if (rest.startsWith('Deleted ')) {
    deleted = true;
    rest = rest.slice('Deleted '.length);
  }
  const link = LINK.exec(rest);
  if (link !== null) {
    const flags = (link[3] ?? '').split(',').filter((flag) => flag !== '');
    return { kind: 'link', wallUs, ifname: link[2] ?? '', flags, up: !deleted && linkUsable(flags), deleted };
  }
  const addr = ADDR.exec(rest);
  if (addr !== null) {
    return { kind: 'addr', wallUs, ifname: addr[2] ?? '', address: addr[3] ?? '', deleted };
  }
  return null;
}
