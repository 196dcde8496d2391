/**
 * One maintenance shell session: binds a byte stream (the serial console, a control-socket
 * connection) to the line discipline, the parser and the agent's operator interface.
 *
 * - Everything is event driven: bytes arrive, are interpreted up to the next line, and a
 *   command runs as a promise. Nothing here loops or waits on the agent's time. Commands
 *   that ask the agent are spaced by a pacer shared by all sessions (see pacer.ts).
 * - While a command runs, typed bytes wait (at most `maxPending`), then are interpreted in
 *   the mode that holds by then (a password after a confirmation is never echoed).
 *   Ctrl-C stops waiting for the command (the agent may still finish it).
 * - Mutating commands say what they will do, need "yes" and, when a password file is
 *   configured, the password. Wrong passwords cost a growing wait (per session) and are
 *   logged; the password itself never is.
 * - `notice` prints a line (a role transition) without corrupting a half-typed line: it
 *   takes the prompt's place or goes on a new line, then the prompt and the typed text
 *   are printed again. No ANSI is needed for that.
 * - Nothing thrown in here reaches the caller: a fault is logged and the session resets.
 */
import type { Operator } from '../agent/index.js';
import type { LogFields } from '../log/index.js';
import type { LogLevel } from '../role/index.js';
import { runCommand } from './commands.js';
import { CONFIRM_PROMPT, PASSWORD_PROMPT, consequence, delayAfterFailures, isConfirmation } from './confirm.js';
import { formatHelp, printable } from './format.js';
import { EMPTY_DISCIPLINE, MAX_LINE, feed } from './line-discipline.js';
import type { DisciplineEvent, DisciplineState } from './line-discipline.js';
import { commandText, isMutating, parseLine } from './parser.js';
import type { MutatingCommand } from './parser.js';
import type { CommandPacer } from './pacer.js';
import { checkPassword } from './password.js';
import type { ShellStream } from './stream.js';

/** Writes one structured log line through the agent's log. */
export type ShellLog = (level: LogLevel, event: string, message: string, fields?: LogFields) => void;

export interface ShellSessionOptions {
  operator: Operator;
  /** This server's name, for the prompt. */
  node: string;
  stream: ShellStream;
  /** Where the session runs: in log lines and the greeting. */
  transport: 'serial' | 'socket';
  /** shell.password_file; null: mutating commands need only the confirmation. */
  passwordFile: string | null;
  log: ShellLog;
  /** ANSI colour from the start (default off; the `color` command switches it). */
  color?: boolean;
  /** The wait after a wrong password; tests pass a fast one. */
  sleep?: (ms: number) => Promise<void>;
  maxLine?: number;
  /** Bytes typed ahead while a command runs that are kept (default 4096). */
  maxPending?: number;
  /** Spaces commands that ask the agent, shared by all sessions of an agent (default: none). */
  pacer?: CommandPacer;
}

type Mode =
  { kind: 'command' } | { kind: 'confirm'; command: MutatingCommand } | { kind: 'password'; command: MutatingCommand };

interface Busy {
  readonly id: number;
  /** Ctrl-C stops waiting. False while a password is checked and its penalty served. */
  cancellable: boolean;
}

const ETX = 0x03;
const COLORS: Record<string, string> = { primary: '32', monitor: '36', spare: '33', halted: '31', 'link-down': '31' };

export class ShellSession {
  private discipline: DisciplineState = EMPTY_DISCIPLINE;
  private mode: Mode = { kind: 'command' };
  private pending: Uint8Array = new Uint8Array(0);
  private busy: Busy | null = null;
  private nextId = 0;
  private closed = false;
  private failures = 0;
  private color: boolean;
  /** A prompt (and what was typed after it) is the last thing on the screen. */
  private promptShown = false;
  private droppedAhead = 0;
  private readonly maxLine: number;
  private readonly maxPending: number;

  constructor(private readonly options: ShellSessionOptions) {
    this.color = options.color ?? false;
    this.maxLine = options.maxLine ?? MAX_LINE;
    this.maxPending = options.maxPending ?? 4096;
    options.stream.onData((chunk) => this.receive(chunk));
  }

  /** Greets, prints the prompt, then takes `initial` as if typed (bytes that came with the request). */
  start(initial?: Uint8Array): void {
    const where = this.options.transport === 'serial' ? 'serial console' : 'control socket';
    this.out(`hotspare maintenance shell on ${this.options.node} (${where}); type help\r\n`);
    this.prompt();
    if (initial !== undefined && initial.length > 0) this.receive(initial);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The stream went away (socket closed): drop everything; nothing pending is done. */
  close(): void {
    if (this.closed) return;
    if (this.mode.kind !== 'command') {
      this.options.log(
        'info',
        'shell-abandoned',
        `shell session on the ${this.options.transport} ended during the confirmation of ${commandText(this.mode.command)}; nothing done`,
        { transport: this.options.transport },
      );
    }
    this.closed = true;
    this.busy = null;
    this.pending = new Uint8Array(0);
    this.mode = { kind: 'command' };
  }

  /** A line such as a role transition, printed like a kernel message. */
  notice(line: string): void {
    if (this.closed) return;
    try {
      const text = printable(line).slice(0, 1000);
      if (!this.promptShown) {
        this.out(`${text}\r\n`);
        return;
      }
      const prompt = this.promptText();
      const typed = this.mode.kind === 'password' ? '' : this.discipline.line;
      // Rule: with nothing (visible) typed, the line takes the prompt's place (padded so no
      // prompt characters are left over); otherwise the typed text stays on its own line.
      if (typed === '') this.out(`\r${text.padEnd(visibleLength(prompt))}\r\n${prompt}`);
      else this.out(`\r\n${text}\r\n${prompt}${typed}`);
    } catch (error) {
      this.fault(error);
    }
  }

  // ------------------------------------------------------------ input

  private receive(chunk: Uint8Array): void {
    if (this.closed) return;
    try {
      let bytes = chunk;
      const interrupt = bytes.lastIndexOf(ETX);
      if (this.busy?.cancellable === true && interrupt >= 0) {
        this.stopWaiting();
        bytes = bytes.subarray(interrupt + 1);
      }
      this.pending = concat(this.pending, bytes);
      this.pump();
      if (this.pending.length > this.maxPending) {
        this.droppedAhead += this.pending.length - this.maxPending;
        this.pending = this.pending.slice(0, this.maxPending);
      }
    } catch (error) {
      this.fault(error);
    }
  }

  /** Interprets pending bytes up to the next command that has to wait for the agent. */
  private pump(): void {
    while (!this.closed && this.busy === null && this.pending.length > 0) {
      const result = feed(this.discipline, this.pending, {
        echo: this.mode.kind !== 'password',
        maxLine: this.maxLine,
      });
      this.discipline = result.state;
      this.pending = this.pending.subarray(result.consumed);
      if (result.echo !== '') this.out(result.echo);
      if (result.echo.endsWith('\n')) this.promptShown = false;
      if (result.event !== null) this.handle(result.event);
    }
  }

  private handle(event: DisciplineEvent): void {
    switch (event.type) {
      case 'interrupt':
        if (this.mode.kind !== 'command') this.say('cancelled; nothing done');
        this.mode = { kind: 'command' };
        return this.prompt();
      case 'too-long':
        this.say(
          this.paint(
            `error: line too long (more than ${event.max} characters): discarded${this.mode.kind === 'command' ? '' : '; nothing done'}`,
            '31',
          ),
        );
        this.mode = { kind: 'command' };
        return this.prompt();
      case 'eof':
        if (this.options.stream.end === null) return; // the console cannot hang up: ignore
        this.freshLine();
        if (this.mode.kind !== 'command') this.say('cancelled; nothing done');
        this.mode = { kind: 'command' };
        return this.hangUp();
      case 'line':
        return this.line(event.text);
    }
  }

  private line(text: string): void {
    const mode = this.mode;
    this.mode = { kind: 'command' };
    if (mode.kind === 'confirm') return this.confirmed(mode.command, text);
    if (mode.kind === 'password') return this.authenticate(mode.command, text);
    const parsed = parseLine(text);
    if (parsed.kind === 'empty') return this.prompt();
    if (parsed.kind === 'error') {
      this.say(this.paint(`error: ${printable(parsed.message)}`, '31'));
      return this.prompt();
    }
    const command = parsed.command;
    switch (command.name) {
      case 'help':
        this.out(crlf(formatHelp(command.topic)));
        return this.prompt();
      case 'color':
        this.color = command.on;
        this.say(`colour ${command.on ? 'on' : 'off'}`);
        return this.prompt();
      case 'exit':
        if (this.options.stream.end !== null) return this.hangUp();
        this.say(
          'this is the console: it has no logout. Leave an ipmitool SOL session with ~. at the start of a line.',
        );
        return this.prompt();
      default:
        break;
    }
    if (isMutating(command)) {
      this.say(consequence(command, this.options.node));
      this.mode = { kind: 'confirm', command };
      return this.prompt();
    }
    this.run(() => runCommand(command, this.options.operator), true);
  }

  private confirmed(command: MutatingCommand, answer: string): void {
    if (!isConfirmation(answer)) {
      this.options.log(
        'info',
        'shell-declined',
        `${commandText(command)} not confirmed on the ${this.options.transport} shell; nothing done`,
        { transport: this.options.transport, command: commandText(command) },
      );
      this.say('not confirmed; nothing done');
      return this.prompt();
    }
    if (this.options.passwordFile !== null) {
      this.mode = { kind: 'password', command };
      return this.prompt();
    }
    this.run(() => this.mutate(command), true);
  }

  private authenticate(command: MutatingCommand, given: string): void {
    const file = this.options.passwordFile;
    if (file === null) return this.prompt(); // not reachable: password mode needs a file
    this.run(async (busy) => {
      const check = await checkPassword(file, given);
      if (check === 'ok') {
        this.failures = 0;
        busy.cancellable = true;
        return this.mutate(command);
      }
      if (check !== 'wrong') {
        this.options.log(
          'error',
          'shell-password-unavailable',
          `${check.unavailable}; ${commandText(command)} refused`,
          { transport: this.options.transport, command: commandText(command) },
        );
        return `${check.unavailable}; nothing done\n`;
      }
      this.failures += 1;
      const delayMs = delayAfterFailures(this.failures);
      this.options.log(
        'warn',
        'shell-auth-failed',
        `wrong shell password for ${commandText(command)} on the ${this.options.transport} (${this.failures} in a row); next attempt in ${delayMs} ms`,
        {
          transport: this.options.transport,
          command: commandText(command),
          failures: this.failures,
          delayMs,
        },
      );
      if (this.busy === busy)
        this.say(this.paint(`wrong password; nothing done. Wait ${Math.ceil(delayMs / 1000)} s.`, '31'));
      await (this.options.sleep ?? sleep)(delayMs);
      return '';
    }, false);
  }

  private mutate(command: MutatingCommand): Promise<string> {
    this.options.log(
      'warn',
      'shell-command',
      `${commandText(command)} confirmed on the ${this.options.transport} shell`,
      { transport: this.options.transport, command: commandText(command) },
    );
    return runCommand(command, this.options.operator);
  }

  // ------------------------------------------------------------ running

  /** Runs a command's promise; its text, then the prompt, come when it settles. */
  private run(task: (busy: Busy) => Promise<string>, cancellable: boolean): void {
    const busy: Busy = { id: (this.nextId += 1), cancellable };
    this.busy = busy;
    Promise.resolve(this.options.pacer?.slot())
      .then(() => (this.busy === busy && !this.closed ? task(busy) : ''))
      .catch(
        (error: unknown) =>
          this.paint(`error: ${printable(error instanceof Error ? error.message : String(error))}`, '31') + '\n',
      )
      .then(async (text) => {
        if (this.busy !== busy || this.closed) return; // cancelled with Ctrl-C, or hung up
        if (text !== '') this.out(crlf(text));
        if (this.droppedAhead > 0) {
          this.say(
            `(${this.droppedAhead} bytes typed ahead were dropped: at most ${this.maxPending} wait while a command runs)`,
          );
          this.droppedAhead = 0;
        }
        await this.options.stream.drained();
        if (this.busy !== busy || this.closed) return;
        this.busy = null;
        this.prompt();
        this.pump();
      })
      .catch((error: unknown) => this.fault(error));
  }

  private stopWaiting(): void {
    this.busy = null;
    this.pending = new Uint8Array(0);
    this.discipline = EMPTY_DISCIPLINE;
    this.mode = { kind: 'command' };
    this.say('^C (no longer waiting; the agent may still finish the command)');
    this.prompt();
  }

  private hangUp(): void {
    this.say('bye');
    this.closed = true;
    this.options.stream.end?.();
  }

  private fault(error: unknown): void {
    this.options.log(
      'error',
      'shell-error',
      `shell session on the ${this.options.transport} failed: ${error instanceof Error ? error.message : String(error)}; session reset`,
      { transport: this.options.transport },
    );
    this.busy = null;
    this.pending = new Uint8Array(0);
    this.discipline = EMPTY_DISCIPLINE;
    this.mode = { kind: 'command' };
    try {
      this.out('\r\ninternal error in the shell (see log); input discarded\r\n');
      this.prompt();
    } catch {
      // the stream itself is broken: nothing more to say
    }
  }

  // ------------------------------------------------------------ output

  private prompt(): void {
    this.out(this.promptText());
    this.promptShown = true;
  }

  private promptText(): string {
    if (this.mode.kind === 'confirm') return CONFIRM_PROMPT;
    if (this.mode.kind === 'password') return PASSWORD_PROMPT;
    const phase = this.options.operator.transitions().at(-1)?.to ?? 'booting';
    return `hotspare ${this.options.node} ${this.paint(phase, COLORS[phase] ?? '1')}> `;
  }

  private freshLine(): void {
    if (this.promptShown) this.out('\r\n');
    this.promptShown = false;
  }

  /** One line of text (the cursor is at the start of a line). */
  private say(text: string): void {
    this.out(`${text}\r\n`);
    this.promptShown = false;
  }

  private out(text: string): void {
    if (!this.closed) this.options.stream.write(text);
  }

  private paint(text: string, sgr: string): string {
    return this.color ? `\x1b[${sgr}m${text}\x1b[0m` : text;
  }
}

function crlf(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

function visibleLength(text: string): number {
  // The escape byte is the point: colour codes take no columns on the terminal.
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
