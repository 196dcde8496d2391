/**
 * The shell password (shell.password_file): read when needed, so a changed file takes effect
 * without a restart, and compared in constant time. Never echoed, logged or kept.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export type PasswordCheck = 'ok' | 'wrong' | { unavailable: string };

/** Compares `given` with the file's password (one trailing newline ignored). */
export async function checkPassword(file: string, given: string): Promise<PasswordCheck> {
  let expected: string;
  try {
    expected = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return { unavailable: `cannot read the shell password file ${file} (${code})` };
  }
  // Rule: an empty password file would let an empty line through: refuse instead.
  if (expected === '') return { unavailable: `the shell password file ${file} is empty` };
  return samePassword(given, expected) ? 'ok' : 'wrong';
}

/**
 * Constant time in the content: both sides are hashed to the same length first. Both are
 * put in Unicode normal form C first, so `ä` typed as one character matches `a` + combining
 * diaeresis in the file (and the other way round). The digests are zeroed after use.
 */
export function samePassword(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text.normalize('NFC'), 'utf8').digest();
  const a = digest(given);
  const b = digest(expected);
  try {
    return timingSafeEqual(a, b);
  } finally {
    a.fill(0);
    b.fill(0);
  }
}
