import { execFile } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion; rejects with its stderr when it fails. */
export function exec(file: string, args: readonly string[], timeoutMs = 10_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || error.message}`, { cause: error }));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** `ip` with the given arguments. */
export function ip(...args: string[]): Promise<ExecResult> {
  return exec('ip', args);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Microseconds on the system-wide monotonic clock (comparable across processes). */
export function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
