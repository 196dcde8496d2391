import { createConnection } from 'node:net';
import { parseRequest } from './protocol.js';
import type { ControlResponse } from './protocol.js';

/** Sends one request to an agent's control socket and returns its answer. */
export function request(path: string, command: string, args: string[] = [], timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ command, args })}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? 'no agent is listening there' : error.message;
      reject(new Error(`cannot reach the agent at ${path}: ${why}`));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.end();
      const line = buffer.slice(0, newline);
      let response: ControlResponse;
      try {
        response = JSON.parse(line) as ControlResponse;
      } catch {
        reject(new Error(`the agent at ${path} answered something that is not JSON`));
        return;
      }
      if (response.ok) resolve(response.result);
      else reject(new Error(response.error));
    });
  });
}

export { parseRequest };
