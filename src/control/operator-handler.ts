/**
 * The control socket's JSON requests, read with the maintenance shell's own catalog and
 * parser (src/shell/catalog.ts, parser.ts): the same names and arguments (`bmc b status`,
 * `sync now`), the same confirmation and password for commands that change the cluster
 * (checked with the shell's check: constant time, the wrong-password wait, never echoed or
 * logged) and the same pacer, so pipelined requests go no faster than typed commands.
 * Answers are data (JSON), not the shell's text.
 */
import type { Operator } from '../agent/index.js';
import { specOf } from '../shell/catalog.js';
import { delayAfterFailures, isConfirmation } from '../shell/confirm.js';
import { formatHelp } from '../shell/format.js';
import type { AgentCommand } from '../shell/commands.js';
import { CommandPacer } from '../shell/pacer.js';
import { commandText, isMutating, parseWords, splitWords } from '../shell/parser.js';
import type { MutatingCommand, ParseResult, ShellCommand } from '../shell/parser.js';
import { checkPassword } from '../shell/password.js';
import type { ShellLog } from '../shell/session.js';
import type { ControlRequest } from './protocol.js';
import type { ControlHandler } from './server.js';

/** What the handler shares with the shell sessions (ShellDeps fits). */
export interface ControlDeps {
  operator: Operator;
  /** shell.password_file; null: commands that change the cluster need only `"confirm": "yes"`. */
  passwordFile: string | null;
  log: ShellLog;
  /** The shell's pacer, shared with its sessions (default: one of the handler's own). */
  pacer?: CommandPacer;
  /** The wait after a wrong password; tests pass a fast one. */
  sleep?: (ms: number) => Promise<void>;
}

/** Control command names from before the shell's grammar was the only one. */
const RENAMED: Readonly<Record<string, string>> = { 'bmc-status': 'bmc NODE status' };

/**
 * The request's words parsed as the shell parses a line: `command` split on blanks, then
 * `args`, each of which must be one word (so the parse is the shell's, word for word).
 */
export function parseControlRequest(request: ControlRequest): ParseResult {
  const args = request.args ?? [];
  const bad = args.findIndex((arg) => arg === '' || /\s/.test(arg));
  if (bad >= 0) return { kind: 'error', message: `args[${bad}] must be one word, as typed in the shell` };
  const words = [...splitWords(request.command), ...args];
  if (words.length === 1 && words[0] === 'shell')
    return {
      kind: 'error',
      message:
        'unknown command "shell" here: a shell session is asked for by a connection\'s first request, from an agent that serves one (hotspare shell)',
    };
  const renamed = RENAMED[words[0]?.toLowerCase() ?? ''];
  if (renamed !== undefined)
    return { kind: 'error', message: `${words[0]} is now spelled as in the shell: ${renamed}` };
  return parseWords(words);
}

/**
 * The handler for the control socket. Given a bare Operator (no password settings known),
 * commands that change the cluster are refused: wire it with the shell's deps.
 */
export function operatorHandler(target: Operator | ControlDeps): ControlHandler {
  const deps: ControlDeps | null = 'operator' in target ? target : null;
  const operator = deps?.operator ?? (target as Operator);
  const pacer = deps?.pacer ?? new CommandPacer();
  const log: ShellLog = deps?.log ?? (() => undefined);
  const fields = (command: ShellCommand) => ({ transport: 'control', command: commandText(command) });
  // Password checks one at a time, the wait after a wrong one included: parallel requests
  // and new connections do not guess faster, nor reset the wait (a shell session's does).
  let failures = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const authenticate = (command: MutatingCommand, file: string, given: string): Promise<void> => {
    const turn = queue.then(async () => {
      const check = await checkPassword(file, given);
      if (check === 'ok') {
        failures = 0;
        return;
      }
      if (check !== 'wrong') {
        log(
          'error',
          'shell-password-unavailable',
          `${check.unavailable}; ${commandText(command)} refused`,
          fields(command),
        );
        throw new Error(`${check.unavailable}; nothing done`);
      }
      failures += 1;
      const delayMs = delayAfterFailures(failures);
      log(
        'warn',
        'shell-auth-failed',
        `wrong shell password for ${commandText(command)} on the control socket (${failures} in a row); next attempt in ${delayMs} ms`,
        { ...fields(command), failures, delayMs },
      );
      await (deps?.sleep ?? sleep)(delayMs);
      throw new Error(`${commandText(command)}: wrong password; nothing done`);
    });
    queue = turn.catch(() => undefined);
    return turn;
  };

  return async (request) => {
    const parsed = parseControlRequest(request);
    if (parsed.kind === 'empty') throw new Error('request needs a command; try {"command": "help"}');
    if (parsed.kind === 'error') throw new Error(parsed.message);
    const command = parsed.command;
    if (command.name === 'help') return formatHelp(command.topic);
    if (!asksTheAgent(command))
      throw new Error(`${command.name} is for a shell session (hotspare shell), not a control request`);
    if (isMutating(command)) {
      if (deps === null)
        throw new Error(
          `${commandText(command)} is refused on this control socket: it was started without the shell's password settings; use hotspare shell`,
        );
      const missing: string[] = [];
      if (!isConfirmation(request.confirm ?? '')) missing.push('"confirm": "yes"');
      if (deps.passwordFile !== null && request.password === undefined)
        missing.push('"password" (shell.password_file is set)');
      if (missing.length > 0)
        throw new Error(
          `${commandText(command)} changes the cluster: the request needs ${missing.join(' and ')}; nothing done`,
        );
    }
    await pacer.slot();
    if (isMutating(command)) {
      if (deps?.passwordFile != null) await authenticate(command, deps.passwordFile, request.password ?? '');
      log('warn', 'shell-command', `${commandText(command)} confirmed on the control socket`, fields(command));
    }
    return run(command, operator);
  };
}

/** What a command answers over the socket: the agent's data, as JSON. */
async function run(
  command: Exclude<ShellCommand, { name: 'help' | 'color' | 'exit' }>,
  operator: Operator,
): Promise<unknown> {
  switch (command.name) {
    case 'status':
      return operator.status();
    case 'history':
      return operator.transitions();
    case 'probe':
      return operator.probe(command.address, command.count);
    case 'bmc':
      return operator.bmcStatus(command.node);
    case 'log':
      return operator.recentLog(command.count);
    case 'config':
      return operator.effectiveConfig();
    case 'sync': {
      if (command.action === 'status') return (await operator.status()).sync;
      const result = await operator.syncNow();
      return { result, sync: (await operator.status()).sync };
    }
    case 'promote':
    case 'demote':
      return operator.command(command.name);
    case 'maintenance':
      return operator.command(command.on ? 'maintenance-on' : 'maintenance-off');
    case 'fence':
      return { member: command.node, result: await operator.fenceMember(command.node) };
  }
}

/** Not help, and not a session matter (the catalog's sessionOnly: color, exit). */
function asksTheAgent(command: ShellCommand): command is AgentCommand {
  return command.name !== 'help' && specOf(command.name)?.sessionOnly !== true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
