/**
 * Loads one of hotspare's N-API addons (built by `make` into dist/bin, each optional): the
 * module when it exports every function named, else the reason it cannot be used.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function loadAddon(path: string, functions: readonly string[], what: string): Record<string, unknown> | string {
  let loaded: unknown;
  try {
    loaded = require(path);
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
    if (code === 'MODULE_NOT_FOUND') return `${path}: not built (Node headers missing at build time?)`;
    return `${path}: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (typeof loaded !== 'object' || loaded === null) return `${path}: not the hotspare ${what} addon`;
  const module = loaded as Record<string, unknown>;
  return functions.every((name) => typeof module[name] === 'function')
    ? module
    : `${path}: not the hotspare ${what} addon`;
}
