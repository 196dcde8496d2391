import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import { MAX_LINE, parseRequest } from './protocol.js';
import type { ControlResponse } from './protocol.js';

export type ControlHandler = (command: string, args: string[]) => Promise<unknown>;

/** Serves the control socket (mode 0600: root's only). One bad client never hurts the agent. */
export class ControlServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();

  constructor(
    private readonly path: string,
    private readonly handler: ControlHandler,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    if (existsSync(this.path)) {
      if (await answers(this.path)) throw new Error(`control socket ${this.path} is in use by another running agent`);
      unlinkSync(this.path);
    }
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
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.clients.delete(socket));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE && !buffer.includes('\n')) {
        reply(socket, { ok: false, error: `request longer than ${MAX_LINE} bytes` });
        socket.end();
        return;
      }
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line !== '') void this.answer(socket, line);
        newline = buffer.indexOf('\n');
      }
    });
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    const request = parseRequest(line);
    if (typeof request === 'string') return reply(socket, { ok: false, error: request });
    try {
      reply(socket, { ok: true, result: await this.handler(request.command, request.args ?? []) });
    } catch (error) {
      reply(socket, { ok: false, error: error instanceof Error ? error.message : String(error) });
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
