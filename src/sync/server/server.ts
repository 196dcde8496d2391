/**
 * The primary's side: serves its replicated roots over TLS-PSK on the primary address.
 * Sends manifests and, on request, files that the manifest it sent on this connection
 * listed, read without following symlinks and hashed while they stream. A peer without
 * the key gets nothing; its attempt is logged (at most once a second per address).
 */
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { SyncError, isSyncError } from '../../../hal/errors/index.js';
import { FrameReader, FrameWriter } from '../wire/frames.js';
import type { HashCache } from '../files/hash-cache.js';
import { buildManifest, code, describe } from '../files/manifest.js';
import type { ResolvedRoot } from '../files/manifest.js';
import { PROTOCOL_VERSION, parseClientMessage } from '../wire/messages.js';
import type { SyncKey } from '../wire/psk.js';
import { refusalReason } from '../wire/refusal.js';
import { RefusalLog } from './refusal-log.js';
import { prepareFile, releasePrepared, sendPrepared } from './serve-file.js';
import type { Prepared } from './serve-file.js';
import type { SyncLog } from '../sync-log.js';
import { describeEntry, entryKey } from '../wire/types.js';
import type { CopyState, ManifestEntry } from '../wire/types.js';

/** Entries per `entries` message: well under the header limit even with long paths. */
const ENTRIES_PER_MESSAGE = 32;
const MAX_SESSIONS = 4;
/** Files asked for that may be prepared ahead of the one being sent. */
const PREPARE_AHEAD = 32;
const REFUSAL_LOG_INTERVAL_MS = 1000;
/** Refusal lines at most per REFUSAL_LOG_INTERVAL_MS over all addresses (a flood from many). */
const REFUSAL_LINES_PER_INTERVAL = 10;
/** Connections open at once, all addresses together. */
const MAX_CONNECTIONS = 16;
/**
 * Connections open at once from one address. The monitor pulls one at a time over one
 * connection; the margin covers a pull abandoned while its successor connects. One host
 * that opens more cannot take the slots the monitor needs.
 */
const MAX_PER_ADDRESS = 4;
/**
 * Time a connection has to complete its TLS handshake. The monitor sends its hello as soon as
 * TCP connects and the PSK handshake is a few round trips on the LAN; a connection still
 * without a session after this holds a slot for nothing. Shorter when sync.timeout_ms is.
 */
const HANDSHAKE_MS = 5000;
const BIND_RETRY_MS = 100;
const BIND_PATIENCE_MS = 3000;

export interface SyncServerOptions {
  roots: readonly string[];
  key: SyncKey;
  port: number;
  timeoutMs: number;
  /** Time to complete the TLS handshake; default the shorter of HANDSHAKE_MS and `timeoutMs`. */
  handshakeMs?: number;
  cache: HashCache;
  log: SyncLog;
  /** This server's own copy state, sent with each manifest (absent: not sent, unknown). */
  copy?: CopyState;
}

export class SyncServer {
  private server: NetServer | null = null;
  private readonly sockets = new Set<Socket>();
  /** Open connections per remote address. */
  private readonly perAddress = new Map<string, number>();
  private sessions = 0;
  private readonly unknownIdentity = new WeakMap<object, string>();
  private readonly refusals = new RefusalLog(
    { perPeerMs: REFUSAL_LOG_INTERVAL_MS, perWindow: REFUSAL_LINES_PER_INTERVAL },
    () => performance.now(),
  );
  private readonly warnedSkips = new Set<string>();
  /** close() was called: a bind still in progress must not start serving. */
  private closed = false;

  constructor(private readonly options: SyncServerOptions) {}

  get listening(): boolean {
    return this.server?.listening === true;
  }

  /** Port actually bound (useful with port 0 in tests). */
  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  /** Listens on host:port. An address being assigned right now is waited for, briefly. */
  async listen(host: string): Promise<void> {
    if (this.server !== null) throw new Error('this sync server is already listening');
    const base = this.options.key.serverOptions(
      this.options.handshakeMs ?? Math.min(HANDSHAKE_MS, this.options.timeoutMs),
    );
    const baseCallback = base.pskCallback;
    // TCP is accepted by a plain server that applies the connection limits; the connections
    // it admits are handed to a TLS server that never listens itself.
    const tls = createServer({
      ...base,
      pskCallback: (socket, identity) => {
        const psk = baseCallback?.(socket, identity) ?? null;
        if (psk === null) this.unknownIdentity.set(socket, identity);
        return psk;
      },
    });
    tls.on('tlsClientError', (error: Error, socket: TLSSocket) => this.refused(error, socket));
    tls.on('secureConnection', (socket: TLSSocket) => void this.session(socket));
    const server = createNetServer((socket) => {
      if (this.admit(socket)) tls.emit('connection', socket);
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('drop', (peer?: { remoteAddress?: string }) =>
      this.logRefusal(peer?.remoteAddress ?? 'unknown', `all ${MAX_CONNECTIONS} connection slots are taken`),
    );
    const deadline = performance.now() + BIND_PATIENCE_MS;
    for (;;) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port: this.options.port, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (error) {
        if (code(error) === 'EADDRNOTAVAIL' && performance.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, BIND_RETRY_MS));
          continue;
        }
        throw new SyncError(
          'serve',
          `cannot listen on ${host}:${this.options.port}: ${describe(error)}`,
          { host, port: this.options.port },
          { cause: error },
        );
      }
    }
    if (this.closed) {
      server.close();
      return;
    }
    server.on('error', (error) =>
      this.options.log('error', 'sync-server-error', `sync server on ${host}:${this.port}: ${describe(error)}`),
    );
    this.server = server;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.closed = true;
    const server = this.server;
    this.server = null;
    if (server === null) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /**
   * Counts a new TCP connection against its address; one over MAX_PER_ADDRESS is closed at
   * once, and logged, before any TLS.
   */
  private admit(socket: Socket): boolean {
    const peer = socket.remoteAddress ?? 'unknown';
    const open = this.perAddress.get(peer) ?? 0;
    if (open >= MAX_PER_ADDRESS) {
      socket.destroy();
      this.logRefusal(peer, `too many connections from this address (${open} open, at most ${MAX_PER_ADDRESS})`);
      return false;
    }
    this.perAddress.set(peer, open + 1);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.perAddress.get(peer) ?? 1) - 1;
      if (left > 0) this.perAddress.set(peer, left);
      else this.perAddress.delete(peer);
    });
    return true;
  }

  private refused(error: Error, socket: TLSSocket): void {
    const peer = socket.remoteAddress ?? 'unknown';
    const reason = refusalReason(code(error), error.message, this.unknownIdentity.get(socket) ?? null);
    socket.destroy();
    this.logRefusal(peer, reason);
  }

  /** One `sync-refused` line, rate-limited per address and overall (RefusalLog). */
  private logRefusal(peer: string, reason: string): void {
    const admitted = this.refusals.admit(peer);
    if (admitted === null) return;
    const more = [
      admitted.peerSuppressed > 0 ? `${admitted.peerSuppressed} more refused from it` : '',
      admitted.otherSuppressed > 0 ? `${admitted.otherSuppressed} more from other addresses not logged` : '',
    ].filter((part) => part !== '');
    const since = more.length === 0 ? '' : ` (${more.join('; ')} since the last report)`;
    this.options.log('warn', 'sync-refused', `refused a sync connection from ${peer}: ${reason}${since}`, {
      peer,
      reason,
      suppressed: admitted.peerSuppressed + admitted.otherSuppressed,
    });
  }

  private async session(socket: TLSSocket): Promise<void> {
    const peer = `sync client ${socket.remoteAddress ?? 'unknown'}`;
    const writer = new FrameWriter(socket, peer);
    if (this.sessions >= MAX_SESSIONS) {
      this.options.log('warn', 'sync-busy', `${peer}: ${MAX_SESSIONS} sync sessions already running; dropped`);
      await writer.header({ t: 'error', message: 'busy' }).catch(() => undefined);
      socket.destroy();
      return;
    }
    this.sessions += 1;
    // Request/response in small frames: Nagle plus delayed ACKs would cost ~40 ms a file.
    socket.setNoDelay(true);
    socket.setTimeout(this.options.timeoutMs, () =>
      socket.destroy(new SyncError('timeout', `${peer}: nothing for ${this.options.timeoutMs} ms`)),
    );
    socket.on('error', () => undefined); // reported through the reader
    const reader = new FrameReader(socket[Symbol.asyncIterator](), peer);
    let files = 0;
    let bytes = 0;
    try {
      const hello = parseClientMessage(await reader.header());
      if (hello.t !== 'hello') throw new SyncError('protocol', `${peer}: expected hello, got ${hello.t}`);
      if (hello.v !== PROTOCOL_VERSION)
        throw new SyncError('protocol', `${peer}: speaks protocol ${hello.v}, this server ${PROTOCOL_VERSION}`);
      await writer.header({ t: 'hello', v: PROTOCOL_VERSION, roots: this.options.roots.length });
      const session: { served: { resolved: ResolvedRoot[]; files: Set<string> } | null } = { served: null };
      // Responses go out in request order through one chain; files are prepared (opened,
      // small ones read) as soon as they are asked for, while earlier ones are on the wire.
      let chain: Promise<void> = Promise.resolve();
      let failure: unknown = null;
      const queued: Array<Promise<void>> = [];
      const respond = (send: () => Promise<void>): void => {
        const done = chain.then(async () => {
          if (failure === null)
            await send().catch((error: unknown) => {
              failure ??= error;
            });
        });
        chain = done;
        queued.push(done);
      };
      for (;;) {
        if (failure !== null) throw failure;
        const frame = await reader.next();
        if (frame === null) break;
        if (frame.kind !== 'header') throw new SyncError('protocol', `${peer}: sent file data`);
        const request = parseClientMessage(frame.value);
        if (request.t === 'bye') {
          await chain;
          socket.end();
          break;
        }
        if (request.t === 'hello') throw new SyncError('protocol', `${peer}: said hello twice`);
        if (request.t === 'manifest') {
          respond(async () => {
            session.served = await this.sendManifest(writer);
          });
          await chain;
          continue;
        }
        // Rule: only files of the manifest sent on this connection are served.
        const served = session.served;
        if (served === null || !served.files.has(entryKey(request))) {
          throw new SyncError(
            'protocol',
            `${peer}: asked for ${describeEntry(request)}, which the manifest it got does not list as a file`,
          );
        }
        const resolved = served.resolved[request.root];
        if (resolved === undefined) throw new SyncError('protocol', `${peer}: no root ${request.root}`);
        const prepared = prepareFile(resolved, request.path).catch((error: unknown): Prepared => ({
          kind: 'missing',
          reason: `cannot read: ${describe(error)}`,
        }));
        respond(async () => {
          const item = await prepared;
          if (failure !== null) return releasePrepared(item);
          const sent = await sendPrepared(writer, item, request.root, request.path);
          files += sent === null ? 0 : 1;
          bytes += sent ?? 0;
        });
        // Bounded look-ahead: wait for the oldest response once PREPARE_AHEAD are queued.
        if (queued.length >= PREPARE_AHEAD) await queued.shift();
      }
      await chain;
      if (failure !== null) throw failure;
      this.options.log('debug', 'sync-served', `${peer}: served ${files} file(s), ${bytes} bytes`, { files, bytes });
    } catch (error) {
      const text = describe(error);
      this.options.log('warn', 'sync-session-failed', `${peer}: ${text}`, {
        kind: isSyncError(error) ? error.kind : 'io',
      });
      await writer.header({ t: 'error', message: text.slice(0, 1000) }).catch(() => undefined);
      socket.destroy();
    } finally {
      this.sessions -= 1;
    }
  }

  private async sendManifest(writer: FrameWriter): Promise<{ resolved: ResolvedRoot[]; files: Set<string> }> {
    const walk = await buildManifest(this.options.roots, {
      cache: this.options.cache,
      removeTemps: false,
      onSkip: (skipped) => {
        // Reported once per path: the walk runs every sync.
        const key = `${entryKey(skipped)}\u0000${skipped.reason}`;
        if (this.warnedSkips.has(key) || this.warnedSkips.size > 10_000) return;
        this.warnedSkips.add(key);
        this.options.log(
          'warn',
          'sync-skipped',
          `not replicated: ${describeEntry(skipped)} (${this.options.roots[skipped.root] ?? '?'}): ${skipped.reason}`,
          { root: skipped.root, path: skipped.path },
        );
      },
    });
    const copy = this.options.copy;
    await writer.header({
      t: 'manifest',
      roots: walk.roots,
      rootMeta: walk.rootMeta,
      ...(copy === undefined ? {} : { copy }),
    });
    const files = new Set<string>();
    for (let i = 0; i < walk.entries.length; i += ENTRIES_PER_MESSAGE) {
      const batch: ManifestEntry[] = walk.entries.slice(i, i + ENTRIES_PER_MESSAGE);
      for (const entry of batch) if (entry.type === 'file') files.add(entryKey(entry));
      await writer.header({ t: 'entries', entries: batch });
    }
    await writer.header({ t: 'manifest-end', count: walk.entries.length });
    return { resolved: walk.resolved, files };
  }
}
