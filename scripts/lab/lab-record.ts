import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteNetns, listNetns } from './netns.js';
import { LAB_ROOT } from './paths.js';
import { isSameLiveProcess } from './proc-stat.js';
import { isRunId } from './run-id.js';

/** What a running lab leaves on disk so that the CLI can find it (and clean up after a dead harness). */
export interface LabRecord {
  id: string;
  runDir: string;
  harnessPid: number;
  harnessStartTime: number;
  namespaces: string[];
  socket: string;
  servers: string[];
  createdAt: string;
}

export function recordPath(runDir: string): string {
  return join(runDir, 'lab.json');
}

export async function writeLabRecord(record: LabRecord): Promise<void> {
  await writeFile(recordPath(record.runDir), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

export async function readLabRecord(id: string): Promise<LabRecord | null> {
  if (!isRunId(id)) {
    return null;
  }
  try {
    return JSON.parse(await readFile(recordPath(join(LAB_ROOT, id)), 'utf8')) as LabRecord;
  } catch {
    return null;
  }
}

/** All labs with a record under LAB_ROOT, newest first. */
export async function listLabRecords(): Promise<LabRecord[]> {
  const entries = await readdir(LAB_ROOT).catch(() => [] as string[]);
  const records = await Promise.all(entries.filter(isRunId).map(readLabRecord));
  return records
    .filter((record): record is LabRecord => record !== null)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export function harnessAlive(record: LabRecord): boolean {
  return isSameLiveProcess(record.harnessPid, record.harnessStartTime);
}

/** Removes what a dead harness left behind: its namespaces and its run directory. */
export async function cleanupDeadLab(record: LabRecord): Promise<string[]> {
  if (harnessAlive(record)) {
    throw new Error(`lab ${record.id}: harness ${record.harnessPid} is alive; stop it instead`);
  }
  const existing = new Set(await listNetns());
  const removed: string[] = [];
  for (const netns of record.namespaces) {
    if (existing.has(netns) && netns.startsWith(`hs${record.id}-`)) {
      await deleteNetns(netns);
      removed.push(netns);
    }
  }
  if (record.runDir.startsWith(`${LAB_ROOT}/`)) {
    await rm(record.runDir, { recursive: true, force: true });
  }
  return removed;
}
