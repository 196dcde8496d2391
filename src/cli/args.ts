/** A small argv parser: `--flag`, `--key value`, `--key=value`; unknown options are errors. */
export interface Parsed {
  options: Map<string, string | true>;
  positional: string[];
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseArgs(argv: readonly string[], known: Record<string, 'flag' | 'value'>): Parsed {
  const options = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name = '', inline] = arg.slice(2).split(/=(.*)/s, 2);
    const kind = known[name];
    if (kind === undefined) throw new UsageError(`unknown option --${name}`);
    if (kind === 'flag') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      options.set(name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
    options.set(name, value);
  }
  return { options, positional };
}

export function stringOption(parsed: Parsed, name: string): string | null {
  const v = parsed.options.get(name);
  return typeof v === 'string' ? v : null;
}

export function numberOption(parsed: Parsed, name: string, fallback: number): number {
  const v = stringOption(parsed, name);
  if (v === null) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

/** A number option within [min, max] (and whole, if asked); a usage error names the bounds. */
export function rangeOption(
  parsed: Parsed,
  name: string,
  fallback: number,
  limits: { min: number; max: number; integer?: boolean },
): number {
  const n = numberOption(parsed, name, fallback);
  const whole = limits.integer === true;
  if (n < limits.min || n > limits.max || (whole && !Number.isInteger(n)))
    throw new UsageError(
      `--${name} must be ${whole ? 'a whole number' : 'a number'} from ${limits.min} to ${limits.max}, got ${stringOption(parsed, name) ?? n}`,
    );
  return n;
}
