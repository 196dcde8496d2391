/**
 * What must be undone if the benchmark is interrupted (SIGINT, SIGTERM) or fails: labs to stop,
 * children to end, ports to put back. Each section registers its undo and removes it when done.
 */
type Undo = () => Promise<void>;

const pending = new Set<Undo>();
let installed = false;

export function onCleanup(undo: Undo): () => void {
  pending.add(undo);
  return () => {
    pending.delete(undo);
  };
}

/** Runs every registered undo, newest first, once. */
export async function cleanupAll(): Promise<void> {
  const undos = [...pending].reverse();
  pending.clear();
  for (const undo of undos) {
    await undo().catch((error: unknown) => process.stderr.write(`bench: cleanup: ${String(error)}\n`));
  }
}

/** On SIGINT/SIGTERM: clean up, then exit with 128 + signal number. */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  const handler = (signal: NodeJS.Signals, code: number): void => {
    process.stderr.write(`bench: ${signal}: cleaning up\n`);
    void cleanupAll().finally(() => process.exit(128 + code));
  };
  process.once('SIGINT', () => handler('SIGINT', 2));
  process.once('SIGTERM', () => handler('SIGTERM', 15));
}

/** Runs `body` with `undo` registered; always runs `undo` afterwards. */
export async function withCleanup<T>(undo: Undo, body: () => Promise<T>): Promise<T> {
  const remove = onCleanup(undo);
  try {
    return await body();
  } finally {
    remove();
    await undo();
  }
}
