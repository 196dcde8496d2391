import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** package.json beside this build (dist/src/cli -> the app's root), where the version is kept. */
const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));

let cached: string | null = null;

/**
 * This build's version: package.json's, plus the build's own suffix when `make package`
 * wrote one (`version` in dist/VERSION, e.g. `0.1.0+g1a2b3c4`). `unknown` if neither reads.
 */
export function agentVersion(): string {
  if (cached !== null) return cached;
  try {
    cached = readFileSync(fileURLToPath(new URL('../../VERSION', import.meta.url)), 'utf8').trim();
    if (cached !== '') return cached;
  } catch {
    // not a packaged build: package.json's version
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8'));
    const version =
      typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['version'] : undefined;
    cached = typeof version === 'string' ? version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
