import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A short random run id (4 characters of [a-z0-9], starting with a letter). */
export function newRunId(): string {
  const bytes = randomBytes(4);
  let id = ALPHABET[(bytes[0] ?? 0) % 26] ?? 'x';
  for (let i = 1; i < 4; i += 1) {
    id += ALPHABET[(bytes[i] ?? 0) % ALPHABET.length] ?? 'x';
  }
  return id;
}

export function isRunId(text: string): boolean {
  return /^[a-z][a-z0-9]{3}$/.test(text);
}
