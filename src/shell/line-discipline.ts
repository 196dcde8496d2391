/**
 * The shell's line discipline: a pure state machine over the bytes a terminal sends, for a
 * dumb terminal at 115200 baud (IPMI SOL, a serial console, a socket). It does what a tty
 * in canonical mode does, and nothing that needs ANSI:
 *
 * - printable ASCII (0x20-0x7e) and complete UTF-8 characters (a password may be `pässwörd`)
 *   go into the line and are echoed; a tab counts as a space;
 * - CR, LF and CRLF each end one line (an LF right after a CR ends nothing: no empty line);
 * - backspace (0x08) and DEL (0x7f) erase one character (not one byte), echoed as "\b \b";
 * - Ctrl-U (0x15) clears the line, Ctrl-W (0x17) erases the last word (the whole line
 *   when it is already too long);
 * - Ctrl-C (0x03) echoes "^C", drops the line and reports an interrupt;
 * - Ctrl-D (0x04) on an empty line reports end of input; elsewhere it is ignored;
 * - escape sequences (arrow keys: ESC [ A, ESC O P, ...) are swallowed whole;
 * - every other byte (controls, invalid or incomplete UTF-8, binary garbage) is dropped;
 * - a line longer than `maxLine` is refused when it ends (`too-long`), never truncated
 *   into a different command; characters past the limit are neither kept nor echoed.
 *
 * `feed` stops right after the first event, so the caller can act on it (run a command,
 * switch to hidden input for a password) before the rest of the bytes are interpreted.
 */

export const MAX_LINE = 512;

export interface DisciplineState {
  /** The characters typed so far, at most `maxLine`. */
  readonly line: string;
  /** Characters typed past the limit and dropped; > 0 means the line will be refused. */
  readonly dropped: number;
  /** The last byte was CR: an LF now is the second half of CRLF. */
  readonly afterCr: boolean;
  /** Inside an escape sequence: after ESC, or in the parameters of ESC [ or ESC O. */
  readonly escape: 'none' | 'esc' | 'csi';
  readonly escapeLength: number;
  /** The bytes so far of a UTF-8 character that is not complete yet. */
  readonly utf8: readonly number[];
}

export type DisciplineEvent =
  { type: 'line'; text: string } | { type: 'too-long'; max: number } | { type: 'interrupt' } | { type: 'eof' };

export interface DisciplineOptions {
  /** Echo typed characters (false for a password: line ends and ^C are still echoed). */
  echo: boolean;
  maxLine?: number;
}

export interface FeedResult {
  state: DisciplineState;
  /** Bytes to send back to the terminal, in order. */
  echo: string;
  /** The first event in the input, or null when all of it was consumed without one. */
  event: DisciplineEvent | null;
  /** How many input bytes were consumed (all of them unless an event came first). */
  consumed: number;
}

export const EMPTY_DISCIPLINE: DisciplineState = {
  line: '',
  dropped: 0,
  afterCr: false,
  escape: 'none',
  escapeLength: 0,
  utf8: [],
};

const BS = 0x08;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const ETX = 0x03; // Ctrl-C
const EOT = 0x04; // Ctrl-D
const NAK = 0x15; // Ctrl-U
const ETB = 0x17; // Ctrl-W
const ESC = 0x1b;
const DEL = 0x7f;
/** An escape sequence longer than this is not one: stop swallowing. */
const MAX_ESCAPE = 16;

const ERASE = '\b \b';

export function feed(state: DisciplineState, bytes: Uint8Array, options: DisciplineOptions): FeedResult {
  const max = options.maxLine ?? MAX_LINE;
  let { line, dropped, afterCr, escape, escapeLength } = state;
  let utf8 = state.utf8;
  let echo = '';
  const done = (event: DisciplineEvent | null, consumed: number): FeedResult => ({
    state: { line, dropped, afterCr, escape, escapeLength, utf8 },
    echo,
    event,
    consumed,
  });

  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] ?? 0;
    const wasAfterCr = afterCr;
    afterCr = false;
    // A byte that does not continue a pending UTF-8 character drops what was pending.
    const pending = utf8;
    if (utf8.length > 0) utf8 = [];

    if (escape !== 'none') {
      // Rule: ESC [ or ESC O starts a sequence that ends with a byte in 0x40-0x7e; any other
      // byte after ESC ends the escape and is taken as typed (a lone ESC is dropped).
      if (escape === 'esc') {
        if (byte === 0x5b || byte === 0x4f) {
          escape = 'csi';
          escapeLength = 0;
          continue;
        }
        escape = 'none';
      } else if (byte >= 0x20 && byte <= 0x3f && escapeLength < MAX_ESCAPE) {
        escapeLength += 1;
        continue;
      } else if (byte >= 0x40 && byte <= 0x7e) {
        escape = 'none';
        continue;
      } else {
        escape = 'none';
      }
    }

    switch (byte) {
      case CR:
      case LF: {
        if (byte === LF && wasAfterCr) continue; // CRLF: the line already ended at the CR
        afterCr = byte === CR;
        echo += '\r\n';
        const event: DisciplineEvent = dropped > 0 ? { type: 'too-long', max } : { type: 'line', text: line };
        line = '';
        dropped = 0;
        return done(event, i + 1);
      }
      case ETX:
        echo += '^C\r\n';
        line = '';
        dropped = 0;
        return done({ type: 'interrupt' }, i + 1);
      case EOT:
        if (line === '' && dropped === 0) return done({ type: 'eof' }, i + 1);
        continue;
      case BS:
      case DEL:
        if (dropped > 0)
          dropped -= 1; // those were never shown: nothing to erase on screen
        else if (line !== '') {
          line = Array.from(line).slice(0, -1).join('');
          if (options.echo) echo += ERASE;
        }
        continue;
      case NAK:
        if (options.echo) echo += ERASE.repeat(line.length);
        line = '';
        dropped = 0;
        continue;
      case ETB: {
        if (dropped > 0) {
          // Where the last word starts is not known (dropped characters are not kept):
          // clear the whole line rather than leave a truncated command behind.
          if (options.echo) echo += ERASE.repeat(line.length);
          line = '';
          dropped = 0;
          continue;
        }
        const kept = line.replace(/\S*\s*$/, '');
        if (options.echo) echo += ERASE.repeat(line.length - kept.length);
        line = kept;
        continue;
      }
      case ESC:
        escape = 'esc';
        escapeLength = 0;
        continue;
      default:
        break;
    }

    let char: string | null;
    if (byte >= 0x80) {
      const decoded = utf8Step(pending, byte);
      if (typeof decoded !== 'string') {
        utf8 = decoded;
        continue;
      }
      char = decoded;
    } else char = byte === TAB ? ' ' : byte >= 0x20 && byte < DEL ? String.fromCharCode(byte) : null;
    if (char === null) continue; // not printable: dropped
    if (line.length >= max || dropped > 0) {
      dropped += 1;
      continue;
    }
    line += char;
    if (options.echo) echo += char;
  }
  return done(null, bytes.length);
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One byte >= 0x80 of UTF-8 after the `pending` bytes of a character: the character once it
 * is complete and valid and printable, else the bytes still pending (empty: dropped).
 */
function utf8Step(pending: readonly number[], byte: number): string | number[] {
  const isLead = byte >= 0xc2 && byte <= 0xf4;
  if (isLead) return [byte];
  if (pending.length === 0 || byte > 0xbf) return []; // a stray continuation or invalid byte
  const bytes = [...pending, byte];
  const lead = bytes[0] ?? 0;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  if (bytes.length < length) return bytes;
  let char: string;
  try {
    char = STRICT_UTF8.decode(Uint8Array.from(bytes));
  } catch {
    return []; // overlong, surrogate or out of range
  }
  // Only visible characters: C1 controls (U+0080-U+009F), other spaces (no-break, em) and
  // invisible format characters stay out of the line, as ASCII controls do.
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(char) ? char : [];
}

/** Everything `feed` makes of `bytes`, events and all (tests, and callers with no modes). */
export function feedAll(
  state: DisciplineState,
  bytes: Uint8Array,
  options: DisciplineOptions,
): { state: DisciplineState; echo: string; events: DisciplineEvent[] } {
  let current = state;
  let echo = '';
  const events: DisciplineEvent[] = [];
  let rest = bytes;
  do {
    const result = feed(current, rest, options);
    current = result.state;
    echo += result.echo;
    if (result.event !== null) events.push(result.event);
    rest = rest.subarray(result.consumed);
  } while (rest.length > 0);
  return { state: current, echo, events };
}
