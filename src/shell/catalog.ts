/**
 * The operator's commands, one entry each (data only): the one list behind the maintenance
 * shell (serial console, `hotspare shell`) and the control socket's JSON requests. Both
 * parse with parser.ts, both ask for confirmation and the password for `mutating` ones,
 * both take a slot of the same pacer.
 */

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  /** Longer help, shown by `help NAME`. */
  detail: string;
  /** Changes what the cluster does: asks for confirmation and, when configured, a password. */
  mutating: boolean;
  /** A valid use, as typed (tests run every one through the shell and the control socket). */
  example: string;
  /** Only means something in a shell session (colour, hanging up): refused as a control request. */
  sessionOnly?: true;
}

export const CATALOG: readonly CommandSpec[] = [
  {
    name: 'help',
    usage: 'help [COMMAND]',
    summary: 'list the commands, or explain one',
    detail: 'Without an argument: every command and the keys. With one: that command in detail.',
    mutating: false,
    example: 'help fence',
  },
  {
    name: 'status',
    usage: 'status',
    summary: 'role, epoch, held addresses, peer RTT (us), misses, last sync',
    detail:
      'Role and phase, epoch, the addresses this server holds, who holds the primary address, peer RTT min/median/p99 in microseconds over the recent replies, probe misses, probe send jitter, fence state and the last sync.',
    mutating: false,
    example: 'status',
  },
  {
    name: 'history',
    usage: 'history',
    summary: 'role transitions with timestamps and reasons',
    detail:
      'The recent role transitions of this server (oldest first): UTC time, from -> to, epoch and the observation that justified it.',
    mutating: false,
    example: 'history',
  },
  {
    name: 'probe',
    usage: 'probe ADDR [COUNT]',
    summary: 'ICMP echo to ADDR now, RTTs in microseconds',
    detail:
      'Sends COUNT (1-100, default 3) echo requests to the IPv4 address ADDR, one after the other, each waiting up to 1 s, and prints each RTT in microseconds. These probes never count as monitoring.',
    mutating: false,
    example: 'probe 198.18.0.10 2',
  },
  {
    name: 'bmc',
    usage: 'bmc NODE status',
    summary: 'power state of NODE, read through each of its fencing levels',
    detail:
      "Reads NODE's power through its BMC and each of its fence_levels (whatever client each uses: RMCP+, ipmitool, Redfish, a fence agent), one after the other, and its switch port's state when it has one. Read only.",
    mutating: false,
    example: 'bmc b status',
  },
  {
    name: 'log',
    usage: 'log [N]',
    summary: 'the last N structured log lines (default 20)',
    detail:
      'The last N (1-1000, default 20) structured log lines of the agent, oldest first: UTC time, level, event, message and fields.',
    mutating: false,
    example: 'log 5',
  },
  {
    name: 'config',
    usage: 'config',
    summary: 'the effective config, secrets redacted',
    detail:
      'The config the agent runs with, one key a line. Values of secret-looking keys are shown as [redacted]; paths of secret files are shown.',
    mutating: false,
    example: 'config',
  },
  {
    name: 'sync',
    usage: 'sync status|now',
    summary: 'replication state, or sync from the primary now',
    detail:
      'sync status: syncs requested, done and failed, the last good one and its lag, the last error. sync now (monitor only): pull what changed from the primary at once and print what moved.',
    mutating: false,
    example: 'sync status',
  },
  {
    name: 'promote',
    usage: 'promote',
    summary: 'take the primary role now (monitor: fence and take over)',
    detail:
      'On the monitor: fence the server holding the primary address and take over, as after a failure. On a spare: reboot as monitor. Refused elsewhere. Asks for confirmation.',
    mutating: true,
    example: 'promote',
  },
  {
    name: 'demote',
    usage: 'demote',
    summary: 'give up the primary address cleanly and become a spare',
    detail:
      'On the primary only: persist spare, release the primary address; the monitor then takes over through the normal path (fence, confirm, claim). Asks for confirmation.',
    mutating: true,
    example: 'demote',
  },
  {
    name: 'maintenance',
    usage: 'maintenance on|off',
    summary: 'stop/resume taking part, keeping what is held',
    detail:
      'maintenance on: no probing, fencing, claiming or health checks; the addresses this server holds stay held. maintenance off: take part again. Asks for confirmation.',
    mutating: true,
    example: 'maintenance on',
  },
  {
    name: 'fence',
    usage: 'fence NODE',
    summary: 'power NODE off (or cycle it) through its BMC',
    detail:
      "Fences NODE as the board's power_cycle says (off-on: power off and read back off). Never this server. Asks for confirmation.",
    mutating: true,
    example: 'fence b',
  },
  {
    name: 'color',
    usage: 'color on|off',
    summary: 'ANSI colour in this session (off by default)',
    detail: 'Colours the prompt and errors with ANSI sequences. Off by default: the shell works on a dumb terminal.',
    mutating: false,
    example: 'color on',
    sessionOnly: true,
  },
  {
    name: 'exit',
    usage: 'exit',
    summary: 'end this session (socket; on the console use ~. of SOL)',
    detail:
      'Ends a session on the control socket (as does Ctrl-D on an empty line). The serial console has no logout: leave an ipmitool SOL session with ~. at the start of a line.',
    mutating: false,
    example: 'exit',
    sessionOnly: true,
  },
];

export const KEYS_HELP = [
  'keys: Enter runs the line (CR, LF or CRLF); Backspace or Delete erases a character;',
  '      Ctrl-U clears the line; Ctrl-W erases a word; Ctrl-C cancels the line, a',
  '      confirmation, or stops waiting for a running command; Ctrl-D on an empty line',
  '      ends a socket session. Lines are at most 512 characters; other control bytes',
  '      are ignored.',
];

export function specOf(name: string): CommandSpec | undefined {
  return CATALOG.find((spec) => spec.name === name);
}
