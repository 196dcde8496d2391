/**
 * One Redfish HTTP request over its own TLS connection, with the certificate checked the way
 * the board says (a CA file, a pinned SHA-256 fingerprint, or, written explicitly, nothing)
 * before a byte of the request is sent, and a deadline on monotonic time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { BmcError } from '../../errors/bmc-error.js';

export type TlsCheck = { kind: 'ca'; ca: string } | { kind: 'fingerprint'; sha256: string } | { kind: 'insecure' };

export interface RedfishTarget {
  member: string;
  host: string;
  port: number;
  tls: TlsCheck;
}

export interface RedfishAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The JSON body, or null when there was none. */
  body: unknown;
}

export interface RedfishCall {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

const MAX_BODY_BYTES = 1024 * 1024;
/** Node's names for a certificate that did not verify. */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)|ALTNAME|ERR_TLS/;

/** Sends one request; rejects with a BmcError (never one holding the request body). */
export function redfishRequest(
  target: RedfishTarget,
  operation: string,
  call: RedfishCall,
  deadlineMs: number,
): Promise<RedfishAnswer> {
  const fail = (kind: BmcError['kind'], detail: string): BmcError =>
    new BmcError(target.member, operation, kind, detail);
  return new Promise((resolve, reject) => {
    const remainingMs = deadlineMs - performance.now();
    if (remainingMs <= 0) return reject(fail('timeout', `no time left for ${call.method} ${call.path}`));
    let settled = false;
    const settle = (error: BmcError | null, answer?: RedfishAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== null) reject(error);
      else resolve(answer as RedfishAnswer);
    };
    const timer = setTimeout(
      () => settle(fail('timeout', `no answer to ${call.method} ${call.path} in time`)),
      remainingMs,
    );
    const socket: TLSSocket = connect({
      host: target.host,
      port: target.port,
      servername: isIP(target.host) === 0 ? target.host : undefined,
      ca: target.tls.kind === 'ca' ? target.tls.ca : undefined,
      rejectUnauthorized: target.tls.kind === 'ca',
    });
    socket.on('error', (error: NodeJS.ErrnoException) => settle(socketFailure(error, fail)));
    socket.once('secureConnect', () => {
      if (target.tls.kind === 'fingerprint') {
        const raw = socket.getPeerCertificate().raw as Buffer | undefined;
        const seen = raw === undefined ? '' : createHash('sha256').update(raw).digest('hex');
        if (!sameHex(seen, target.tls.sha256))
          return settle(
            fail(
              'refused',
              `certificate fingerprint sha256 ${seen || '(none)'} is not the pinned one; nothing was sent`,
            ),
          );
      }
      send(socket, target, call, (error, answer) =>
        settle(error === null ? null : fail(error.kind, error.detail), answer),
      );
    });
  });
}

function send(
  socket: TLSSocket,
  target: RedfishTarget,
  call: RedfishCall,
  done: (error: { kind: BmcError['kind']; detail: string } | null, answer?: RedfishAnswer) => void,
): void {
  const payload = call.body === undefined ? null : Buffer.from(JSON.stringify(call.body));
  const req = httpRequest({
    host: target.host,
    port: target.port,
    method: call.method,
    path: call.path,
    createConnection: () => socket,
    headers: {
      Accept: 'application/json',
      'OData-Version': '4.0',
      Connection: 'close',
      ...(payload === null ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) }),
      ...call.headers,
    },
  });
  req.on('error', (error: NodeJS.ErrnoException) =>
    done({ kind: 'unreachable', detail: `${call.method} ${call.path}: ${error.code ?? error.message}` }),
  );
  req.on('response', (res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done({ kind: 'garbage', detail: `${call.method} ${call.path}: answer larger than ${MAX_BODY_BYTES} bytes` });
        res.destroy();
      } else chunks.push(chunk);
    });
    res.on('error', () => done({ kind: 'unreachable', detail: `${call.method} ${call.path}: connection lost` }));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = null;
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          if ((res.statusCode ?? 0) < 300)
            return done({ kind: 'garbage', detail: `${call.method} ${call.path}: answer is not JSON` });
        }
      }
      done(null, { status: res.statusCode ?? 0, headers: res.headers, body });
    });
  });
  req.end(payload ?? undefined);
}

function socketFailure(
  error: NodeJS.ErrnoException,
  fail: (kind: BmcError['kind'], detail: string) => BmcError,
): BmcError {
  const code = error.code ?? '';
  if (CERT_ERROR.test(code))
    return fail(
      'refused',
      `the BMC's certificate is not trusted (${code}: ${error.message}); check bmc.redfish.ca_file`,
    );
  if (code === 'ETIMEDOUT') return fail('timeout', `connect: ${code}`);
  return fail('unreachable', `connect: ${code || error.message}`);
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
