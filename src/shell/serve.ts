/**
 * Where shell sessions run: the serial console (one session for the agent's lifetime, which
 * also prints role transitions) and control-socket connections that asked for `shell`.
 */
import type { Socket } from 'node:net';
import type { SerialPort } from '../../hal/serial/index.js';
import type { Operator } from '../agent/index.js';
import type { CommandPacer } from './pacer.js';
import { ShellSession } from './session.js';
import type { ShellLog } from './session.js';
import { serialStream, socketStream } from './stream.js';

export interface ShellDeps {
  operator: Operator;
  node: string;
  passwordFile: string | null;
  log: ShellLog;
  /** One pacer for every session of the agent, so several sessions cannot add up. */
  pacer?: CommandPacer;
}

/** The console session: started at once; `notice` on it prints transition lines. */
export function serveConsole(port: SerialPort, baud: number, deps: ShellDeps): ShellSession {
  const session = new ShellSession({ ...deps, stream: serialStream(port, baud), transport: 'serial' });
  session.start();
  return session;
}

/** A session on a control-socket connection; `initial` holds bytes that followed the request. */
export function serveSocket(socket: Socket, initial: Uint8Array, deps: ShellDeps): ShellSession {
  const session = new ShellSession({ ...deps, stream: socketStream(socket), transport: 'socket' });
  socket.on('close', () => {
    session.close();
    deps.log('info', 'shell-closed', 'shell session on the control socket ended', { transport: 'socket' });
  });
  deps.log('info', 'shell-opened', 'shell session on the control socket', { transport: 'socket' });
  session.start(initial);
  return session;
}
