import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/index.js';

/** What a SIGHUP reload does with a new config: the keys it applies and the ones that wait for a restart. */
export interface ReloadPlan {
  /** Changed keys taken over at once (today: `log.level`). */
  apply: string[];
  /** Changed keys the running agent cannot take over (it built its drivers and role machine from them). */
  restart: string[];
}

/** Keys a running agent can change in place. */
const RELOADABLE = new Set(['log.level']);

/**
 * The changes from `running` to `next`, key by key (one level below the top: `probe.interval_ms`
 * is reported as `probe`'s `intervalMs`), sorted into those applied now and those needing a
 * restart. Pure: the caller logs the plan and applies it.
 */
export function reloadPlan(running: Config, next: Config): ReloadPlan {
  const apply: string[] = [];
  const restart: string[] = [];
  for (const key of changedKeys(running, next)) (RELOADABLE.has(key) ? apply : restart).push(key);
  return { apply, restart };
}

function changedKeys(a: Config, b: Config): string[] {
  const out: string[] = [];
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    const x = left[key];
    const y = right[key];
    if (isDeepStrictEqual(x, y)) continue;
    if (isRecord(x) && isRecord(y) && key !== 'board' && key !== 'cluster') {
      for (const sub of new Set([...Object.keys(x), ...Object.keys(y)]))
        if (!isDeepStrictEqual(x[sub], y[sub])) out.push(`${key}.${snake(sub)}`);
    } else out.push(key);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The config file's spelling of a key (`intervalMs` -> `interval_ms`). */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
