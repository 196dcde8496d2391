/**
 * Pure interpretation of one `ipmitool ... chassis power <op>` run (ipmitool 1.8.19 wording).
 *
 * The run is run with `-v`, so that session-setup failures name their cause (RAKP errors)
 * instead of only "Unable to establish ... session". `-v` also prints harmless noise
 * ("Loading IANA PEN Registry...", "Invalid completion code received" for the VSO probe),
 * which is ignored here.
 */
import type { BmcErrorKind } from '../errors/bmc-error.js';
import type { PowerState } from './index.js';

export type IpmitoolOperation = 'status' | 'on' | 'off' | 'cycle';

/** What one ipmitool process did. */
export interface IpmitoolRun {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process was killed by a signal or never ran. */
  exitCode: number | null;
  /** Signal that ended the process, if any. */
  signal: string | null;
  /** Our own kill timer fired. */
  timedOut: boolean;
  /** The process could not be started (errno code such as `ENOENT`). */
  spawnError?: string;
}

export type IpmitoolOutcome =
  { ok: true; power: PowerState | null } | { ok: false; kind: BmcErrorKind; detail: string };

/** The line ipmitool prints when a control command was accepted, per operation. */
const CONTROL_ACK: Readonly<Record<Exclude<IpmitoolOperation, 'status'>, string>> = {
  on: 'Up/On',
  off: 'Down/Off',
  cycle: 'Cycle',
};

const STATUS_LINE = /^Chassis Power is (on|off)$/;
const CONTROL_LINE = /^Chassis Power Control: (.+)$/;

interface Rule {
  kind: BmcErrorKind;
  pattern: RegExp;
}

/**
 * First match wins, so the more specific causes come before the generic
 * "Unable to establish ... session" that ipmitool prints after all of them.
 */
const RULES: readonly Rule[] = [
  // lanplus (RMCP+): the BMC rejected our credentials or our algorithms.
  { kind: 'auth', pattern: /RAKP [24] HMAC is invalid/ },
  { kind: 'auth', pattern: /RAKP [24] message indicates an error\s*:.*/ },
  { kind: 'auth', pattern: /RAKP 4 message has invalid integrity check value/ },
  { kind: 'auth', pattern: /Error in open session response message\s*:.*/ },
  // lan (IPMI 1.5)
  { kind: 'auth', pattern: /Invalid user name/ },
  { kind: 'auth', pattern: /NULL user name not enabled/ },
  { kind: 'auth', pattern: /Activate Session error.*/ },
  // A v1.5 BMC drops an Activate Session whose MD5 auth code is wrong: the
  // capabilities and challenge were answered, only the activation was not.
  { kind: 'auth', pattern: /Activate Session command failed/ },
  { kind: 'auth', pattern: /Authentication type .* not supported/ },
  { kind: 'auth', pattern: /Unable to (?:open|read) password (?:from )?file.*/ },
  { kind: 'auth', pattern: /password is longer than \d+ bytes/ },
  // The session worked and the BMC answered the command with a completion code.
  { kind: 'refused', pattern: /Set Chassis Power Control to .* failed: .*/ },
  { kind: 'refused', pattern: /Get Chassis Power Status failed: .*/ },
  { kind: 'refused', pattern: /Get Session Challenge command failed: .*/ },
  { kind: 'refused', pattern: /Get Auth Capabilities error: .*/ },
  // The BMC answered but does not speak RMCP+ (use interface lan).
  { kind: 'refused', pattern: /This BMC does not support IPMI v2 \/ RMCP\+/ },
  // Nothing (usable) came back.
  { kind: 'unreachable', pattern: /Unable to get Chassis Power Status/ },
  { kind: 'unreachable', pattern: /Unable to set Chassis Power Control to .*/ },
  { kind: 'unreachable', pattern: /Address lookup for .* failed.*/ },
  { kind: 'unreachable', pattern: /Connection refused/ },
  { kind: 'unreachable', pattern: /No route to host/ },
  { kind: 'unreachable', pattern: /Network is unreachable/ },
  { kind: 'unreachable', pattern: /no response from RAKP [13] message/ },
  { kind: 'unreachable', pattern: /Get Auth Capabilities (?:command failed|error)/ },
  { kind: 'unreachable', pattern: /Error issuing Get Channel Authentication Capabilities request/ },
  { kind: 'unreachable', pattern: /Get Session Challenge command failed/ },
  { kind: 'unreachable', pattern: /Unable to establish (?:IPMI v2 \/ RMCP\+|IPMI v1\.5 \/ RMCP|LAN) session/ },
];

const MAX_DETAIL = 200;

/** `on`/`off` from a `chassis power status` stdout, or null when there is no single clear answer. */
export function parsePowerStatus(stdout: string): PowerState | null {
  const states = new Set<PowerState>();
  for (const line of lines(stdout)) {
    const match = STATUS_LINE.exec(line);
    if (match !== null) {
      states.add(match[1] === 'on' ? 'on' : 'off');
    }
  }
  if (states.size !== 1) {
    return null;
  }
  const [state] = states;
  return state ?? null;
}

/** True when stdout holds the acknowledgement of exactly this control operation. */
export function parseControlAck(stdout: string, operation: Exclude<IpmitoolOperation, 'status'>): boolean {
  const acks = lines(stdout)
    .map((line) => CONTROL_LINE.exec(line)?.[1])
    .filter((value): value is string => value !== undefined);
  return acks.length === 1 && acks[0] === CONTROL_ACK[operation];
}

/** The error class of a failed run's text, or null when no known message is in it. */
export function classifyFailure(text: string): { kind: BmcErrorKind; detail: string } | null {
  for (const rule of RULES) {
    const match = rule.pattern.exec(text);
    if (match !== null) {
      return { kind: rule.kind, detail: clean(match[0]) };
    }
  }
  return null;
}

/** Turns one run into a power state / acknowledgement or a classified failure. */
export function interpretIpmitool(operation: IpmitoolOperation, run: IpmitoolRun): IpmitoolOutcome {
  if (run.timedOut) {
    return { ok: false, kind: 'timeout', detail: 'ipmitool did not finish in time and was killed' };
  }
  if (run.spawnError !== undefined) {
    return { ok: false, kind: 'unreachable', detail: `cannot run ipmitool: ${clean(run.spawnError)}` };
  }
  if (run.exitCode === 0) {
    if (operation === 'status') {
      const power = parsePowerStatus(run.stdout);
      if (power !== null) {
        return { ok: true, power };
      }
    } else if (parseControlAck(run.stdout, operation)) {
      return { ok: true, power: null };
    }
  }
  const failure = classifyFailure(`${run.stderr}\n${run.stdout}`);
  if (failure !== null) {
    return { ok: false, ...failure };
  }
  if (run.signal !== null) {
    return { ok: false, kind: 'garbage', detail: `ipmitool ended by ${run.signal}` };
  }
  return { ok: false, kind: 'garbage', detail: `unexpected output (exit ${String(run.exitCode)}): ${summary(run)}` };
}

function lines(text: string): string[] {
  return text.split(/\r?\n/).map((line) => line.trim());
}

/** Printable, single-line, bounded. */
function clean(text: string): string {
  const printable = text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return printable.length > MAX_DETAIL ? `${printable.slice(0, MAX_DETAIL)}...` : printable;
}

const NOISE = [
  /^Loading IANA PEN Registry/,
  /^Running Get VSO Capabilities/,
  /^Invalid completion code received/,
  /^Discovered IPMB address/,
  /^Get HPM\.x Capabilities/,
];

function summary(run: IpmitoolRun): string {
  const interesting = lines(`${run.stdout}\n${run.stderr}`).filter(
    (line) => line !== '' && !NOISE.some((noise) => noise.test(line)),
  );
  return interesting.length === 0 ? '(no output)' : clean(interesting.join(' | '));
}
