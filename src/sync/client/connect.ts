/** Opens the TLS-PSK connection to the primary's sync service; failures become SyncErrors. */
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { SyncError } from '../../../hal/errors/index.js';
import { code, describe } from '../files/manifest.js';
import type { SyncKey } from '../wire/psk.js';
import { clientHandshakeProblem } from '../wire/refusal.js';

export function connectToPrimary(key: SyncKey, host: string, port: number, timeoutMs: number): Promise<TLSSocket> {
  const where = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = connect(key.clientOptions(host, port));
    let settled = false;
    const fail = (error: SyncError): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new SyncError('timeout', `no TLS session with the primary at ${where} within ${timeoutMs} ms`, {
            peer: where,
          }),
        ),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Request/response in small frames: Nagle plus delayed ACKs would cost ~40 ms a file.
      socket.setNoDelay(true);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      const handshake = clientHandshakeProblem(code(error));
      if (handshake !== null) {
        fail(new SyncError('auth', `${where}: ${handshake}`, { peer: where }, { cause: error }));
        return;
      }
      fail(
        new SyncError(
          'connect',
          `cannot reach the primary's sync service at ${where}: ${code(error) ?? describe(error)}`,
          { peer: where },
          { cause: error },
        ),
      );
    };
    socket.on('error', onError);
    socket.once('close', () =>
      fail(
        new SyncError(
          'auth',
          `${where}: the primary closed the connection during the TLS handshake (not the same cluster key?)`,
          { peer: where },
        ),
      ),
    );
  });
}
