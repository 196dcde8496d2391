import { ConfigError } from '../../hal/errors/index.js';

/**
 * Reads typed fields out of parsed YAML, throwing `ConfigError` that names the file and
 * the dotted field path (`probe.interval_ms`, `cluster.members[1].mac`).
 */
export class Fields {
  constructor(
    readonly file: string,
    readonly path: string,
    private readonly value: Record<string, unknown>,
    private readonly known: Set<string> = new Set(),
  ) {}

  static root(file: string, value: unknown): Fields {
    if (value === null || value === undefined) throw new ConfigError(file, '', 'the file is empty');
    if (typeof value !== 'object' || Array.isArray(value))
      throw new ConfigError(file, '', 'expected a mapping at the top level');
    return new Fields(file, '', value as Record<string, unknown>);
  }

  field(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(this.file, this.field(key), problem);
  }

  has(key: string): boolean {
    this.known.add(key);
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  private raw(key: string): unknown {
    this.known.add(key);
    return this.value[key];
  }

  string(key: string, fallback?: string): string {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      return this.fail(key, 'is required');
    }
    if (typeof v !== 'string' || v.trim() === '')
      return this.fail(key, `must be a non-empty string, got ${this.describe(key, v)}`);
    return v;
  }

  optionalString(key: string): string | null {
    return this.has(key) ? this.string(key) : null;
  }

  number(
    key: string,
    fallback: number | undefined,
    limits: { min?: number; max?: number; integer?: boolean } = {},
  ): number {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      return this.fail(key, 'is required');
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      return this.fail(key, `must be a number, got ${this.describe(key, v)}`);
    if (limits.integer === true && !Number.isInteger(v)) return this.fail(key, `must be a whole number, got ${v}`);
    if (limits.min !== undefined && v < limits.min) return this.fail(key, `must be at least ${limits.min}, got ${v}`);
    if (limits.max !== undefined && v > limits.max) return this.fail(key, `must be at most ${limits.max}, got ${v}`);
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') return this.fail(key, `must be true or false, got ${this.describe(key, v)}`);
    return v;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback?: T): T {
    const v = this.raw(key);
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
      return this.fail(key, `must be one of ${choices.join(', ')}, got ${this.describe(key, v)}`);
    }
    return v as T;
  }

  stringList(key: string): string[] {
    const v = this.raw(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return this.fail(key, `must be a list of strings, got ${this.describe(key, v)}`);
    return v.map((item: unknown, i) => {
      if (typeof item !== 'string' || item === '')
        throw new ConfigError(
          this.file,
          `${this.field(key)}[${i}]`,
          `must be a non-empty string, got ${this.describe(key, item)}`,
        );
      return item;
    });
  }

  /**
   * A mapping of names to scalars (string, number, true/false), each value as text: options
   * passed on to another program. Absent: empty.
   */
  scalarMap(key: string): Record<string, string> {
    const v = this.raw(key);
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) return this.fail(key, `must be a mapping, got ${describe(v)}`);
    const result: Record<string, string> = {};
    for (const [name, item] of Object.entries(v as Record<string, unknown>)) {
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean')
        throw new ConfigError(
          this.file,
          `${this.field(key)}.${name}`,
          `must be a string, number or true/false, got ${describe(item)}`,
        );
      result[name] = String(item);
    }
    return result;
  }

  /** A nested mapping; an absent one reads as empty so its fields take their defaults. */
  object(key: string, required = false): Fields {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (required) return this.fail(key, 'is required');
      return new Fields(this.file, this.field(key), {});
    }
    if (typeof v !== 'object' || Array.isArray(v))
      return this.fail(key, `must be a mapping, got ${this.describe(key, v)}`);
    return new Fields(this.file, this.field(key), v as Record<string, unknown>);
  }

  list(key: string): Fields[] {
    const v = this.raw(key);
    if (!Array.isArray(v))
      return this.fail(key, v === undefined ? 'is required' : `must be a list, got ${this.describe(key, v)}`);
    return v.map((item: unknown, i) => {
      const path = `${this.field(key)}[${i}]`;
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        throw new ConfigError(this.file, path, `must be a mapping, got ${describe(item)}`);
      return new Fields(this.file, path, item as Record<string, unknown>);
    });
  }

  /** A value for an error message; for a secret key only its kind, never the value. */
  private describe(key: string, v: unknown): string {
    return isSecretKey(key) ? `${kind(v)} (value not shown: ${key} may hold a secret)` : describe(v);
  }

  /** Call after reading: a key nobody asked for is most likely a typo. */
  rejectUnknown(): void {
    for (const key of Object.keys(this.value)) {
      if (!this.known.has(key)) this.fail(key, `unknown key (known here: ${[...this.known].sort().join(', ')})`);
    }
  }
}

/**
 * Keys whose values are, or name, secrets: a password typed into `password_file` must not be
 * printed back by an error about it.
 */
export function isSecretKey(key: string): boolean {
  return /(password|password_file|key_file|community|community_file)$/i.test(key);
}

function kind(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
