/** Shared by the sync tests: trees on disk, keys, replicator pairs on loopback. */
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncKey, TlsReplicator } from '../../../src/sync/index.js';
import type { SyncLog } from '../../../src/sync/index.js';
import type { AtomicHooks } from '../../../src/sync/client/atomic-write.js';
import type { LogFields } from '../../../src/log/index.js';

export const SECRET = 'correct horse battery staple 42';
export const KEY = SyncKey.fromSecret(Buffer.from(SECRET));

/** `name/` a directory, `name -> target` a symlink, anything else a file with that content. */
export type TreeSpec = Record<string, string>;

export async function makeTree(root: string, spec: TreeSpec): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [name, content] of Object.entries(spec)) {
    const path = join(root, name);
    if (name.endsWith('/')) await mkdir(path, { recursive: true });
    else if (content.startsWith('-> ')) await symlink(content.slice(3), path);
    else await writeFile(path, content);
  }
}

/** Everything under `root`: `dir/`, `link -> target`, file contents. */
export async function readTree(root: string): Promise<TreeSpec> {
  const out: TreeSpec = {};
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const st = await lstat(path);
      const rel = `${prefix}${name}`;
      if (st.isDirectory()) {
        out[`${rel}/`] = '';
        await walk(path, `${rel}/`);
      } else if (st.isSymbolicLink()) out[rel] = `-> ${await readlink(path)}`;
      else out[rel] = await readFile(path, 'utf8');
    }
  }
  await walk(root, '');
  return out;
}

export interface LoggedLine {
  level: string;
  event: string;
  message: string;
  fields: LogFields;
}

export function memoryLog(): { log: SyncLog; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  return { lines, log: (level, event, message, fields = {}) => lines.push({ level, event, message, fields }) };
}

export interface PairOptions {
  key?: SyncKey;
  monitorKey?: SyncKey;
  maxFileBytes?: number;
  maxTotalBytes?: number;
  timeoutMs?: number;
  hooks?: AtomicHooks;
  /** Default `main` here (fast); the tests that name `worker` cover the pull thread. */
  thread?: 'worker' | 'main';
  /** state_dir (copy state, sync-aside); default none. */
  stateDir?: string;
}

export const LIMITS = { maxFileBytes: 1024 ** 3, maxTotalBytes: 10 * 1024 ** 3 };

/** A serving replicator on 127.0.0.1 (free port). */
export async function servingReplicator(
  paths: string[],
  log: SyncLog,
  key = KEY,
): Promise<{ replicator: TlsReplicator; port: number }> {
  const replicator = new TlsReplicator({ paths, port: 0, timeoutMs: 5000, limits: LIMITS, key, log });
  await replicator.serve('127.0.0.1');
  const port = replicator.servingPort;
  if (port === null) throw new Error('not serving');
  return { replicator, port };
}

export function pullingReplicator(
  paths: string[],
  port: number,
  log: SyncLog,
  options: PairOptions = {},
): TlsReplicator {
  return new TlsReplicator({
    paths,
    port,
    timeoutMs: options.timeoutMs ?? 5000,
    limits: {
      maxFileBytes: options.maxFileBytes ?? LIMITS.maxFileBytes,
      maxTotalBytes: options.maxTotalBytes ?? LIMITS.maxTotalBytes,
    },
    key: options.monitorKey ?? KEY,
    log,
    thread: options.thread ?? 'main',
    ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }),
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
  });
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}
