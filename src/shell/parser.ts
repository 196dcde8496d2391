/**
 * The shell's command parser: one line in, one command or a usage error naming the command
 * out. Pure; never throws, whatever the line.
 */
import { CATALOG, specOf } from './catalog.js';

export type ShellCommand =
  | { name: 'help'; topic: string | null }
  | { name: 'status' }
  | { name: 'history' }
  | { name: 'probe'; address: string; count: number }
  | { name: 'bmc'; node: string }
  | { name: 'log'; count: number }
  | { name: 'config' }
  | { name: 'sync'; action: 'status' | 'now' }
  | { name: 'promote' }
  | { name: 'demote' }
  | { name: 'maintenance'; on: boolean }
  | { name: 'fence'; node: string }
  | { name: 'color'; on: boolean }
  | { name: 'exit' };

export type MutatingCommand = Extract<ShellCommand, { name: 'promote' | 'demote' | 'maintenance' | 'fence' }>;

export type ParseResult =
  { kind: 'empty' } | { kind: 'command'; command: ShellCommand } | { kind: 'error'; message: string };

export const PROBE_MAX = 100;
export const LOG_MAX = 1000;
export const LOG_DEFAULT = 20;
const NODE_NAME = /^[A-Za-z0-9_-]{1,32}$/;
/** How much of an unknown word an error message repeats. */
const SHOWN = 32;

export function parseLine(line: string): ParseResult {
  return parseWords(splitWords(line));
}

/** A line's words, as the shell splits them (blanks separate, none are empty). */
export function splitWords(line: string): string[] {
  return line
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '');
}

/**
 * The same parse from words already split: the control socket's requests come this way
 * (`{"command": "bmc b status"}` or `{"command": "bmc", "args": ["b", "status"]}`).
 */
export function parseWords(words: readonly string[]): ParseResult {
  const [first, ...args] = words;
  if (first === undefined) return { kind: 'empty' };
  const verb = first.toLowerCase();
  const fail = (message: string): ParseResult => ({ kind: 'error', message });
  const usage = (why: string): ParseResult => fail(`${verb}: ${why}; usage: ${specOf(verb)?.usage ?? verb}`);
  const ok = (command: ShellCommand): ParseResult => ({ kind: 'command', command });
  const noArgs = (command: ShellCommand): ParseResult =>
    args.length === 0 ? ok(command) : usage(`takes no arguments, got ${shown(args.join(' '))}`);

  switch (verb) {
    case 'help':
    case '?': {
      if (args.length > 1) return fail(`help: one command at most; usage: help [COMMAND]`);
      const topic = args[0]?.toLowerCase() ?? null;
      if (topic !== null && specOf(topic) === undefined)
        return fail(`help: no command ${shown(topic)}; known: ${names()}`);
      return ok({ name: 'help', topic });
    }
    case 'status':
    case 'history':
    case 'config':
    case 'promote':
    case 'demote':
    case 'exit':
      return noArgs({ name: verb });
    case 'quit':
      return noArgs({ name: 'exit' });
    case 'probe': {
      const [address, count, ...extra] = args;
      if (address === undefined) return usage('needs an IPv4 address');
      if (!isIpv4(address)) return usage(`${shown(address)} is not an IPv4 address`);
      if (extra.length > 0) return usage('too many arguments');
      const n = whole(count, 3, PROBE_MAX);
      // Leading zeros go: some resolvers read 010 as octal.
      return typeof n === 'string'
        ? usage(n)
        : ok({ name: 'probe', address: address.split('.').map(Number).join('.'), count: n });
    }
    case 'bmc': {
      const [node, action, ...extra] = args;
      if (node === undefined) return usage('needs a node name');
      if (!NODE_NAME.test(node)) return usage(`${shown(node)} is not a node name`);
      if (action?.toLowerCase() !== 'status' || extra.length > 0) return usage('the only bmc action is status');
      return ok({ name: 'bmc', node });
    }
    case 'log': {
      if (args.length > 1) return usage('too many arguments');
      const n = whole(args[0], LOG_DEFAULT, LOG_MAX);
      return typeof n === 'string' ? usage(n) : ok({ name: 'log', count: n });
    }
    case 'sync': {
      const action = args[0]?.toLowerCase();
      if ((action !== 'status' && action !== 'now') || args.length > 1) return usage('needs status or now');
      return ok({ name: 'sync', action });
    }
    case 'maintenance':
    case 'color': {
      const mode = args[0]?.toLowerCase();
      if ((mode !== 'on' && mode !== 'off') || args.length > 1) return usage('needs on or off');
      return ok({ name: verb, on: mode === 'on' });
    }
    case 'fence': {
      const [node, ...extra] = args;
      if (node === undefined) return usage('needs a node name');
      if (!NODE_NAME.test(node)) return usage(`${shown(node)} is not a node name`);
      if (extra.length > 0) return usage('too many arguments');
      return ok({ name: 'fence', node });
    }
    default:
      return fail(`unknown command ${shown(first)}; type help for the list`);
  }
}

export function isMutating(command: ShellCommand): command is MutatingCommand {
  return specOf(command.name)?.mutating === true;
}

/** A command as the operator would type it (for questions and log lines). */
export function commandText(command: ShellCommand): string {
  switch (command.name) {
    case 'maintenance':
    case 'color':
      return `${command.name} ${command.on ? 'on' : 'off'}`;
    case 'fence':
      return `fence ${command.node}`;
    case 'bmc':
      return `bmc ${command.node} status`;
    case 'probe':
      return `probe ${command.address} ${command.count}`;
    case 'log':
      return `log ${command.count}`;
    case 'sync':
      return `sync ${command.action}`;
    case 'help':
      return command.topic === null ? 'help' : `help ${command.topic}`;
    default:
      return command.name;
  }
}

export function isIpv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255);
}

/** A whole number in 1..max, the fallback when absent, or why not. */
function whole(text: string | undefined, fallback: number, max: number): number | string {
  if (text === undefined) return fallback;
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1 || Number(text) > max)
    return `count must be a whole number from 1 to ${max}, got ${shown(text)}`;
  return Number(text);
}

function shown(text: string): string {
  return JSON.stringify(text.length > SHOWN ? `${text.slice(0, SHOWN)}...` : text);
}

function names(): string {
  return CATALOG.map((spec) => spec.name).join(', ');
}
