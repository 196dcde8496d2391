/**
 * The benchmark's small C tools (scripts/bench/*.c), built with gcc into dist/bin when
 * `make bench` has not built them, or when the source is newer than the binary (a stale tool
 * would run without a fix the tests expect).
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { repoRoot } from '../lab/paths.js';

/** The path of `dist/bin/<name>`, built from `scripts/bench/<source>` first if it has to be. */
export async function ensureCTool(name: string, source: string, extraFlags: readonly string[] = []): Promise<string> {
  const binary = resolve(repoRoot(), 'dist/bin', name);
  const sourcePath = resolve(repoRoot(), 'scripts/bench', source);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(sourcePath).mtimeMs) return binary;
  await mkdir(dirname(binary), { recursive: true });
  await new Promise<void>((done, fail) =>
    execFile(
      'gcc',
      ['-O2', '-Wall', '-Wextra', '-Werror', ...extraFlags, '-o', binary, sourcePath],
      (error, _stdout, stderr) =>
        error === null ? done() : fail(new Error(`gcc (scripts/bench/${source}): ${stderr}`)),
    ),
  );
  return binary;
}
