import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where every lab keeps its run directory (`<LAB_ROOT>/<id>/`). */
export const LAB_ROOT = '/tmp/hotspare-lab';

/** The repository root, found from this compiled file (dist/scripts/lab/paths.js) or its source. */
export function repoRoot(): string {
  // Compiled: <root>/dist/scripts/lab/paths.js; source: <root>/scripts/lab/paths.ts.
  const twoUp = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  return basename(twoUp) === 'dist' ? dirname(twoUp) : twoUp;
}

/** The compiled agent CLI. */
export function agentMain(): string {
  return resolve(repoRoot(), 'dist/src/cli/main.js');
}

/** The compiled observer script. */
export function observerMain(): string {
  return resolve(repoRoot(), 'dist/scripts/lab/observer-main.js');
}

/** The compiled lab Redfish BMC (one process per server). */
export function redfishBmcMain(): string {
  return resolve(repoRoot(), 'dist/scripts/lab/redfish-bmc-main.js');
}
