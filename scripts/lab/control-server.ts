import { connect, createServer } from 'node:net';
import type { Server } from 'node:net';
import { rm } from 'node:fs/promises';

const MAX_REQUEST = 4096;

/**
 * A unix-socket server for one-line requests: the client sends a line (and may half-close),
 * the handler's answer is written back and the connection is closed. An empty answer sends
 * nothing (the chassis program treats that as success).
 */
export async function startLineServer(path: string, handler: (line: string) => Promise<string>): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer({ allowHalfOpen: true }, (connection) => {
    let buffer = '';
    let handled = false;
    const handle = (line: string): void => {
      if (handled) {
        return;
      }
      handled = true;
      handler(line.trim())
        .catch((error: unknown) => `error: ${error instanceof Error ? error.message : String(error)}`)
        .then((answer) => {
          connection.end(answer === '' ? '' : `${answer.replace(/\n/g, ' ')}\n`);
        })
        .catch(() => connection.destroy());
    };
    connection.setEncoding('utf8');
    connection.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        handle(buffer.slice(0, newline));
      } else if (buffer.length > MAX_REQUEST) {
        connection.destroy();
      }
    });
    connection.on('end', () => handle(buffer));
    connection.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Client side: sends one line, returns the answer (without the trailing newline). */
export function request(path: string, line: string, timeoutMs = 30_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${line}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(answer.replace(/\n$/, ''));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
