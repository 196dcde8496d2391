import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import { MAX_LINE, parseRequest } from './protocol.js';
import type { ControlRequest, ControlResponse } from './protocol.js';

/** Answers one request (its result goes back as `{ok: true, result}`, a rejection as `{ok: false, error}`). */
export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

/**
 * Takes over a connection whose first request was `{"command":"shell"}` (answered with
 * `{"ok":true,"result":"shell"}`): from then on it carries raw terminal bytes both ways.
 * `initial` holds the bytes that came after the request line.
 */
export type ShellHandler = (socket: Socket, initial: Uint8Array) => void;

/** Serves the control socket (mode 0600: root's only). One bad client never hurts the agent. */
export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();

  constructor(
    private readonly path: string,
    private readonly handler: ControlHandler,
    private readonly shell: ShellHandler | null = null,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(this.path);
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  private serve(socket: Socket): void {
    this.clients.add(socket);
    // Bytes, not text: a connection may turn into a shell, whose input is raw terminal bytes.
    let buffer = Buffer.alloc(0);
    let first = true;
    // Rule: answers go back in the order of the requests, whichever finishes first.
    let answered: Promise<void> = Promise.resolve();
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.clients.delete(socket));
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > MAX_LINE && !buffer.includes(0x0a)) {
        reply(socket, { ok: false, error: `request longer than ${MAX_LINE} bytes` });
        socket.end();
        return;
      }
      let newline = buffer.indexOf(0x0a);
      while (newline >= 0) {
        const line = buffer.subarray(0, newline).toString('utf8').trim();
        buffer = buffer.subarray(newline + 1);
        if (line !== '') {
          const request = parseRequest(line);
          // Rule: only a connection's first request may turn it into a shell, so no JSON
          // answer can land in the middle of terminal output.
          if (first && this.shell !== null && typeof request !== 'string' && request.command === 'shell') {
            socket.off('data', onData);
            reply(socket, { ok: true, result: 'shell' });
            try {
              this.shell(socket, buffer);
            } catch {
              socket.destroy();
            }
            return;
          }
          first = false;
          const answer = this.answer(line);
          answered = answered.then(async () => reply(socket, await answer));
        }
        newline = buffer.indexOf(0x0a);
      }
    };
    socket.on('data', onData);
  }

  /** Never rejects. */
  private async answer(line: string): Promise<ControlResponse> {
    const request = parseRequest(line);
    if (typeof request === 'string') return { ok: false, error: request };
    try {
      return { ok: true, result: await this.handler(request) };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.destroy();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function reply(socket: Socket, response: ControlResponse): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
}

/**
 * Makes room for the socket: nothing there is fine; a socket nobody answers on (left by an
 * agent that was killed) is removed; a live socket or anything that is not a socket (a
 * file, a directory, a symlink) is refused and left as it is.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stats.isSocket())
    throw new Error(
      `control socket path ${path} exists and is ${kindOf(stats)}, not a socket: refusing to remove it; move it away or set another control_socket`,
    );
  if (await answers(path)) throw new Error(`control socket ${path} is in use by another running agent`);
  unlinkSync(path);
}

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'a special file';
}

/** Whether a live process answers on a unix socket path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
