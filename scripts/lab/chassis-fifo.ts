import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exec } from './exec.js';

const ACK_TIMEOUT_MS = 5000;

export function requestFifo(runDir: string): string {
  return join(runDir, 'chassis.req');
}

export function ackFifo(runDir: string, server: string): string {
  return join(runDir, `chassis-${server}.ack`);
}

/**
 * Harness side of the chassis program's `set` path, with FIFOs so that the program needs no
 * process of its own (shell builtins only): it writes one line `chassis NODE PARM VALUE ...`
 * into `chassis.req` (held open by the harness, so the open never blocks; lines are shorter
 * than PIPE_BUF, so writes of several BMCs do not mix), then reads the answer from its node's
 * `chassis-NODE.ack`: `ok` or an error text. ipmi_sim runs one program at a time per BMC, so
 * one answer FIFO per node suffices.
 */
export class ChassisFifo {
  private readonly socket: Socket;
  private closed = false;

  private constructor(
    fd: number,
    private readonly runDir: string,
    handler: (line: string) => Promise<string>,
  ) {
    this.socket = new Socket({ fd, readable: true, writable: false });
    this.socket.on('error', () => undefined);
    createInterface({ input: this.socket }).on('line', (line) => {
      const server = line.split(/\s+/)[1] ?? '';
      void handler(line)
        .catch((error: unknown) => `error: ${error instanceof Error ? error.message : String(error)}`)
        .then((answer) => this.answer(server, answer === '' ? 'ok' : answer.replace(/\n/g, ' ')));
    });
  }

  static async open(
    runDir: string,
    servers: readonly string[],
    handler: (line: string) => Promise<string>,
  ): Promise<ChassisFifo> {
    const fifos = [requestFifo(runDir), ...servers.map((server) => ackFifo(runDir, server))];
    await Promise.all(fifos.map((fifo) => rm(fifo, { force: true })));
    await exec('mkfifo', ['-m', '0600', ...fifos]);
    // O_RDWR: there is always a writer (us), so reading never sees EOF and writers never block.
    const fd = openSync(requestFifo(runDir), constants.O_RDWR | constants.O_NONBLOCK);
    return new ChassisFifo(fd, runDir, handler);
  }

  /** Writes the answer once the chassis program has the ack FIFO open for reading. */
  private answer(server: string, text: string): void {
    if (!/^[a-z][a-z0-9]{0,3}$/.test(server)) {
      return;
    }
    const path = ackFifo(this.runDir, server);
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    const attempt = (): void => {
      if (this.closed) {
        return;
      }
      let fd: number;
      try {
        fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (error) {
        // ENXIO: no reader yet (the program has not reached its `read`).
        if ((error as NodeJS.ErrnoException).code === 'ENXIO' && Date.now() < deadline) {
          setTimeout(attempt, 1);
        }
        return;
      }
      try {
        writeSync(fd, `${text}\n`);
      } finally {
        closeSync(fd);
      }
    };
    attempt();
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
