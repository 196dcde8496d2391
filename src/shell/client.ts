/**
 * `hotspare shell`: the maintenance shell of a running agent over its control socket.
 * Sends `{"command":"shell"}`, then carries raw bytes both ways. On a terminal, stdin goes
 * to raw mode (the agent's shell does the echo and line editing; Ctrl-C reaches it as a
 * byte). From a pipe, bytes go as they come, and at the end of input the session is closed
 * after whatever is still running (Ctrl-U, Ctrl-D: clear the line, end).
 */
import { createConnection } from 'node:net';

export interface ShellClientIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream;
}

const END_OF_INPUT = Buffer.from([0x15, 0x04]);

/** Resolves with the exit code when the agent ends the session; rejects if there is none. */
export function runShellClient(
  path: string,
  io: ShellClientIo = { stdin: process.stdin, stdout: process.stdout },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let acknowledged = false;
    let head = Buffer.alloc(0);
    const raw = io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
    const forward = (chunk: Buffer | string): void => {
      if (!socket.destroyed) socket.write(chunk);
    };
    const endOfInput = (): void => forward(END_OF_INPUT);
    const cleanUp = (): void => {
      io.stdin.off('data', forward);
      io.stdin.off('end', endOfInput);
      if (raw) io.stdin.setRawMode?.(false);
      io.stdin.pause();
    };

    socket.once('connect', () => socket.write(`${JSON.stringify({ command: 'shell' })}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      cleanUp();
      const why =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? 'no agent is listening there' : error.message;
      reject(new Error(`cannot reach the agent at ${path}: ${why}`));
    });
    socket.on('close', () => {
      cleanUp();
      if (acknowledged) resolve(0);
      else reject(new Error(`the agent at ${path} closed the connection without starting a shell`));
    });
    socket.on('data', (chunk: Buffer) => {
      if (acknowledged) {
        io.stdout.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const newline = head.indexOf(0x0a);
      if (newline < 0) return;
      const answer = parseAnswer(head.subarray(0, newline).toString('utf8'));
      if (answer !== null) {
        socket.destroy();
        reject(new Error(`the agent at ${path} refused a shell: ${answer}`));
        return;
      }
      acknowledged = true;
      const rest = head.subarray(newline + 1);
      if (rest.length > 0) io.stdout.write(rest);
      if (raw) io.stdin.setRawMode?.(true);
      io.stdin.on('data', forward);
      io.stdin.on('end', endOfInput);
      io.stdin.resume();
    });
  });
}

/** null when the agent agreed to a shell, else why not. */
function parseAnswer(line: string): string | null {
  try {
    const answer = JSON.parse(line) as { ok?: unknown; result?: unknown; error?: unknown };
    if (answer.ok === true && answer.result === 'shell') return null;
    return typeof answer.error === 'string' ? answer.error : `unexpected answer ${line.slice(0, 200)}`;
  } catch {
    return 'its answer is not JSON';
  }
}
