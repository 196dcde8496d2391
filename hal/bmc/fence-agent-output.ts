/**
 * Pure interpretation of one run of a fence agent (the fence-agents family, built on
 * fencing.py): its exit code and output turned into a power state, an acknowledgement or a
 * typed failure.
 *
 * fencing.py's conventions: exit 0 is success; `status` exits 0 for on and 2 for off and
 * prints `Status: ON|OFF`; every failure exits 1 with one of a few fixed messages
 * ("Unable to connect/login to fencing device", "Connection timed out", ...). The agent's
 * own cause (the tool or HTTP answer underneath) is only in its verbose log, so the run
 * asks for it (`verbose_level`) and the cause is looked for first.
 */
import type { BmcErrorKind } from '../errors/bmc-error.js';
import type { PowerState } from './index.js';
import { classifyFailure as classifyIpmitoolFailure } from './ipmitool-output.js';

export type FenceAgentOperation = 'status' | 'on' | 'off' | 'cycle';

/** What one agent process did. */
export interface FenceAgentRun {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process was killed by a signal or never ran. */
  exitCode: number | null;
  signal: string | null;
  /** Our own deadline was reached and the process group was killed. */
  timedOut: boolean;
  /** The process could not be started (errno code such as `ENOENT`). */
  spawnError?: string;
}

export type FenceAgentOutcome =
  { ok: true; power: PowerState | null; detail: string } | { ok: false; kind: BmcErrorKind; detail: string };

interface Rule {
  kind: BmcErrorKind;
  pattern: RegExp;
}

/**
 * Causes underneath fencing.py's generic messages, first match wins: HTTP statuses and
 * connection errors of the HTTP-based agents (fence_redfish, fence_ilo, ...), then fencing.py's
 * own messages, which say less.
 */
const RULES: readonly Rule[] = [
  // HTTP agents log the status of a failed request.
  { kind: 'auth', pattern: /\b(?:status(?: code)?|HTTP(?:\/[\d.]+)?)[:= ]*40[13]\b.*/i },
  { kind: 'auth', pattern: /\b40[13] (?:Unauthorized|Forbidden)\b.*/i },
  // urllib3's debug line of a request: `"GET /redfish/v1 HTTP/1.1" 401 123`.
  { kind: 'auth', pattern: /"[A-Z]+ \S+ HTTP\/[\d.]+" 40[13]\b.*/ },
  { kind: 'refused', pattern: /certificate verify failed.*/i },
  { kind: 'refused', pattern: /SSL(?:Error|: ).*/ },
  { kind: 'unreachable', pattern: /Connection refused.*/ },
  { kind: 'unreachable', pattern: /No route to host.*/ },
  { kind: 'unreachable', pattern: /Network is unreachable.*/ },
  { kind: 'unreachable', pattern: /Name or service not known.*/ },
  { kind: 'timeout', pattern: /(?:Read|Connect) timed out.*/i },
  { kind: 'timeout', pattern: /Operation timed out.*/ },
  // fencing.py's messages (fail(EC_*)).
  { kind: 'auth', pattern: /You have to set login password/ },
  { kind: 'auth', pattern: /The user does not have the correct privileges.*/ },
  { kind: 'auth', pattern: /Unable to connect\/login to fencing device/ },
  { kind: 'timeout', pattern: /Connection timed out/ },
  { kind: 'unreachable', pattern: /Connection lost/ },
  { kind: 'refused', pattern: /Failed: Unable to obtain correct plug status or plug is not available/ },
  { kind: 'refused', pattern: /Failed: Either unable to obtain correct plug status.*/ },
  { kind: 'refused', pattern: /Failed: Can not find VM UUID.*/ },
  // A run that never got to the device: our stdin or the board's options.
  { kind: 'refused', pattern: /Failed: (?:Unrecognised|Unsupported) action.*/ },
  { kind: 'refused', pattern: /Failed: .*/ },
];

/** "Timed out waiting to power OFF/ON": the command went through, the power has not changed yet. */
const NOT_YET = { off: /Timed out waiting to power OFF/, on: /Timed out waiting to power ON/ } as const;

const STATUS_LINE = /^Status: (ON|OFF)\s*$/m;
const MAX_DETAIL = 200;

/**
 * Turns one run into an outcome. `agent` names the program in details. `secret` (the
 * password) is removed from any text before it is looked at, in case an agent echoes it.
 */
export function interpretFenceAgent(
  agent: string,
  operation: FenceAgentOperation,
  run: FenceAgentRun,
  secret = '',
): FenceAgentOutcome {
  if (run.timedOut) {
    return { ok: false, kind: 'timeout', detail: `${agent} did not finish in time; its process group was killed` };
  }
  if (run.spawnError !== undefined) {
    return { ok: false, kind: 'unreachable', detail: `cannot run ${agent}: ${clean(run.spawnError)}` };
  }
  const stdout = scrub(run.stdout, secret);
  const stderr = scrub(run.stderr, secret);
  const text = `${stderr}\n${stdout}`;
  if (operation === 'status') {
    const state = STATUS_LINE.exec(stdout)?.[1];
    if (run.exitCode === 0 && state === 'ON') return { ok: true, power: 'on', detail: 'Status: ON' };
    if (run.exitCode === 2 && state === 'OFF') return { ok: true, power: 'off', detail: 'Status: OFF' };
  } else if (run.exitCode === 0) {
    return { ok: true, power: null, detail: successLine(stdout) };
  } else if ((operation === 'off' || operation === 'on') && run.exitCode === 1 && NOT_YET[operation].test(text)) {
    // Asked for a single status read after the command (power_timeout=1): the device took
    // the command and the power has not changed yet. The caller polls until it has.
    return { ok: true, power: null, detail: `accepted; power not ${operation} yet at the agent's one read` };
  }
  const failure = classifyFailure(text);
  if (failure !== null) return { ok: false, ...failure };
  if (run.signal !== null) return { ok: false, kind: 'garbage', detail: `${agent} ended by ${run.signal}` };
  return {
    ok: false,
    kind: 'garbage',
    detail: `unexpected answer from ${agent} (exit ${String(run.exitCode)}): ${summary(text)}`,
  };
}

/** The first known cause in an agent's output: ipmitool's own words first, then the rules above. */
export function classifyFailure(text: string): { kind: BmcErrorKind; detail: string } | null {
  const ipmitool = classifyIpmitoolFailure(text);
  // ipmitool's generic session failure says less than an HTTP or fencing.py cause would.
  if (ipmitool !== null && !/^Unable to establish/.test(ipmitool.detail)) return ipmitool;
  for (const rule of RULES) {
    const match = rule.pattern.exec(text);
    if (match !== null) return { kind: rule.kind, detail: clean(match[0]) };
  }
  return ipmitool;
}

function successLine(stdout: string): string {
  const line = stdout.split(/\r?\n/).find((l) => l.startsWith('Success'));
  return clean(line ?? 'exit 0');
}

function scrub(text: string, secret: string): string {
  return secret === '' ? text : text.split(secret).join('[secret]');
}

/** Printable, single-line, bounded. */
function clean(text: string): string {
  const printable = text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return printable.length > MAX_DETAIL ? `${printable.slice(0, MAX_DETAIL)}...` : printable;
}

/** The lines that say something: fencing.py's timestamps, Python warnings and blank lines dropped. */
function summary(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ /, '').trim())
    .filter((l) => l !== '' && !/DeprecationWarning|^from pipes import/.test(l));
  return lines.length === 0 ? '(no output)' : clean(lines.slice(-4).join(' | '));
}
