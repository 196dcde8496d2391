/**
 * The monitor's side: one pull from the primary. Connect (TLS-PSK), get the manifest,
 * refuse it whole if anything in it is malformed or escapes its root, compare it with what
 * is here, copy what changed (streamed into atomic writes, never held in memory), delete
 * what the primary no longer has, fsync every directory touched. Nothing is written before
 * the manifest has been fully received and validated.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { SyncError, isSyncError } from '../../../hal/errors/index.js';
import type { SyncErrorKind } from '../../../hal/errors/sync-error.js';
import { rootsToSetAside, topmost } from './aside.js';
import { AtomicFile, replaceWithSymlinkConfined, writeConfinedAtomic } from './atomic-write.js';
import type { AtomicHooks } from './atomic-write.js';
import { connectToPrimary } from './connect.js';
import { planSync } from './diff.js';
import { FrameReader, FrameWriter } from '../wire/frames.js';
import type { HashCache } from '../files/hash-cache.js';
import { checkLimits, oversizedProblem } from '../wire/limits.js';
import type { Limits } from '../wire/limits.js';
import { parentOf } from '../wire/confine.js';
import { code } from '../files/fs-errors.js';
import { ConfinedTree, at } from '../files/local-guard.js';
import { createLocalRoot, inspectLocalRoot } from './local-roots.js';
import type { PreparedRoot } from './local-roots.js';
import { MAX_ENTRIES, buildManifest, describe } from '../files/manifest.js';
import { PROTOCOL_VERSION, parseServerMessage } from '../wire/messages.js';
import type { ServerMessage } from '../wire/messages.js';
import type { SyncKey } from '../wire/psk.js';
import type { SyncLog } from '../sync-log.js';
import { describeEntry, entryKey } from '../wire/types.js';
import type { FileEntry, Manifest, ManifestEntry } from '../wire/types.js';
import { validateManifest } from '../wire/validate.js';

export interface PullOptions {
  /** This server's own roots, in the same order as the primary's. */
  roots: readonly string[];
  key: SyncKey;
  host: string;
  port: number;
  /** No progress for this long aborts the pull. */
  timeoutMs: number;
  limits: Limits;
  cache: HashCache;
  log: SyncLog;
  /** Tests: crash points inside atomic writes. */
  hooks?: AtomicHooks;
  /** Aborting drops the connection; the write in progress is abandoned, its temporary file removed. */
  signal?: AbortSignal;
  /**
   * `<state_dir>/sync-aside`: where deletions this pull does not trust are moved (aside.ts).
   * Absent: they are held back (not deleted) and reported.
   */
  asideDir?: string;
}

export interface PullResult {
  /** Files and symlinks written. */
  files: number;
  /** File bytes received. */
  bytes: number;
  deleted: number;
  /** Entries moved aside instead of deleted (with what was under them), and where to. */
  movedAside: number;
  asideDir: string | null;
  /** Metadata-only changes (mode, owner, mtime). */
  touched: number;
  tempsRemoved: number;
  /** Parts not synced this time (oversized, absent roots, files changing while copied). */
  problems: Array<{ kind: SyncErrorKind; text: string }>;
  /** Where the time went (ms): connect and manifest, local walk and plan, copies, the rest. */
  timings: { manifestMs: number; localMs: number; copyMs: number; finishMs: number };
}

/** Attempts at copying a file that keeps changing while it is read. */
const COPY_ATTEMPTS = 3;
/** Files asked for ahead of the one being received. */
const GET_WINDOW = 32;
/** Complete copies being fsynced and renamed while the next ones arrive. */
const COMMITS_IN_FLIGHT = 16;
/** Files up to this size are received into memory and written whole (bounded: x COMMITS_IN_FLIGHT). */
const BUFFER_MAX = 64 * 1024;

/** A complete, verified copy, ready to be made durable and renamed into place. */
interface Received {
  bytes: number;
  commit: () => Promise<void>;
}

export async function pull(options: PullOptions): Promise<PullResult> {
  const peer = `primary ${options.host}:${options.port}`;
  const aborted = (): boolean => options.signal?.aborted === true;
  if (aborted())
    throw new SyncError('connect', `${peer}: sync abandoned before it started (${String(options.signal?.reason)})`, {
      peer,
    });
  const socket = await connectToPrimary(options.key, options.host, options.port, options.timeoutMs);
  let socketError: unknown = null;
  socket.on('error', (error) => {
    socketError = error;
  });
  const onAbort = (): void => {
    socket.destroy(
      new SyncError('connect', `${peer}: sync abandoned (${String(options.signal?.reason ?? 'aborted')})`, { peer }),
    );
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // Aborted while connecting: drop the new connection at once.
  if (aborted()) onAbort();
  try {
    return await new Session(socket, peer, options).run();
  } catch (error) {
    if (isSyncError(error)) throw error;
    if (error === socketError)
      throw new SyncError('connect', `${peer}: connection lost: ${describe(error)}`, { peer }, { cause: error });
    // Everything else is a local file operation; Node's message names the path.
    throw new SyncError('io', describe(error), {}, { cause: error });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    socket.destroy();
  }
}

class Session {
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private readonly result: PullResult = {
    files: 0,
    bytes: 0,
    deleted: 0,
    movedAside: 0,
    asideDir: null,
    touched: 0,
    tempsRemoved: 0,
    problems: [],
    timings: { manifestMs: 0, localMs: 0, copyMs: 0, finishMs: 0 },
  };
  private readonly startMs = performance.now();
  /** Directories whose entries changed (by root and relative path): fsynced at the end. */
  private readonly dirty = new Map<string, { tree: ConfinedTree; dir: string }>();
  private roots: PreparedRoot[] = [];
  /** Per root, the tree every write goes through (local-guard.ts); null for a root not synced. */
  private trees: Array<ConfinedTree | null> = [];
  /** Roots whose deletions are moved aside this pull, and why. */
  private aside = new Map<number, string>();

  constructor(
    private readonly socket: TLSSocket,
    private readonly peer: string,
    private readonly options: PullOptions,
  ) {
    socket.setTimeout(options.timeoutMs, () =>
      socket.destroy(
        new SyncError('timeout', `${peer}: nothing moved for ${options.timeoutMs} ms (sync.timeout_ms)`, { peer }),
      ),
    );
    this.reader = new FrameReader(socket[Symbol.asyncIterator](), peer);
    this.writer = new FrameWriter(socket, peer);
  }

  async run(): Promise<PullResult> {
    await this.writer.header({ t: 'hello', v: PROTOCOL_VERSION, roots: this.options.roots.length });
    const hello = await this.message();
    if (hello.t !== 'hello') throw this.unexpected(hello, 'hello');
    if (hello.v !== PROTOCOL_VERSION)
      throw new SyncError('protocol', `${this.peer} speaks protocol ${hello.v}, this server ${PROTOCOL_VERSION}`);
    if (hello.roots !== this.options.roots.length) {
      throw new SyncError(
        'roots',
        `${this.peer} replicates ${hello.roots} root(s), this server ${this.options.roots.length}; sync.paths must list the same roots in the same order on every server`,
      );
    }
    const remote = await this.manifest();
    // Rule: a malformed or escaping manifest is refused whole, before anything is written.
    validateManifest(remote, this.options.roots.length);
    const lap = this.lap();

    this.roots = [];
    for (const [index, configured] of this.options.roots.entries()) {
      this.roots.push(await inspectLocalRoot(index, configured, remote.roots[index] ?? 'absent'));
    }
    const scope = new Set<number>();
    this.roots.forEach((root, index) => {
      if (root.problem === null) scope.add(index);
      else this.result.problems.push({ kind: 'roots', text: root.problem });
    });
    const inScope = remote.entries.filter((e) => scope.has(e.root));
    // Rule: a set over max_total_bytes is refused before the first write (roots included).
    const limits = checkLimits(inScope, this.options.limits);
    for (const entry of limits.oversized)
      this.result.problems.push({ kind: 'limit', text: oversizedProblem(entry, this.options.limits.maxFileBytes) });
    for (const [index, root] of this.roots.entries()) {
      if (root.missing)
        this.roots[index] = await createLocalRoot(index, root.resolved.configured, remote.roots[index] ?? 'absent');
    }

    const local = await buildManifest(this.options.roots, { cache: this.options.cache, removeTemps: true });
    this.result.tempsRemoved = local.tempsRemoved;
    this.trees = this.roots.map((root) => treeOf(root));
    // Before anything is written under it: a 0700 root must not be 0755 here while files arrive.
    await this.applyRootMeta(remote, scope);
    const plan = planSync(remote.entries, local.entries, {
      roots: scope,
      keep: new Set(limits.oversized.map(entryKey)),
    });
    this.result.timings.manifestMs = lap;
    this.result.timings.localMs = this.lap() - lap;

    // Rule: deletions from a primary whose copy is incomplete, empty or much smaller are moved aside.
    this.aside = rootsToSetAside(remote.copy, plan, local.entries, scope);
    await this.removeAll(plan.clear);
    for (const dir of plan.mkdirs) {
      const { tree, path } = this.place(dir);
      await tree.makeDir(path, dir);
      this.markDirty(tree, path);
    }
    await this.fetchAll(plan.fetch);
    this.result.timings.copyMs = this.lap() - this.result.timings.localMs - lap;
    for (const link of plan.links) {
      const { tree, path } = this.place(link);
      await replaceWithSymlinkConfined(tree, path, link.target);
      this.markDirty(tree, path);
      this.result.files += 1;
    }
    for (const entry of plan.meta) {
      const { tree, path } = this.place(entry);
      await tree.setMeta(path, entry, entry.type);
      this.result.touched += 1;
    }
    await this.removeAll(plan.remove);
    this.reportAside();
    for (const { tree, dir } of this.dirty.values()) await tree.fsyncDir(dir);
    // A clean goodbye: the primary ends the connection once it has read `bye`.
    await this.writer.header({ t: 'bye' });
    this.socket.end();
    const after = await this.reader.next().catch(() => null);
    if (after !== null) this.options.log('debug', 'sync-trailing', `${this.peer} sent more after bye`);
    const { manifestMs, localMs, copyMs } = this.result.timings;
    this.result.timings.finishMs = this.lap() - manifestMs - localMs - copyMs;
    return this.result;
  }

  /** Milliseconds since the pull began. */
  private lap(): number {
    return Math.round(performance.now() - this.startMs);
  }

  private async message(): Promise<ServerMessage> {
    const message = parseServerMessage(await this.reader.header());
    if (message.t === 'error')
      throw new SyncError('protocol', `${this.peer} reports: ${message.message}`, { peer: this.peer });
    return message;
  }

  private unexpected(got: ServerMessage, wanted: string): SyncError {
    return new SyncError('protocol', `${this.peer} sent ${got.t} where ${wanted} was expected; connection dropped`, {
      peer: this.peer,
    });
  }

  private async manifest(): Promise<Manifest> {
    await this.writer.header({ t: 'manifest' });
    const head = await this.message();
    if (head.t !== 'manifest') throw this.unexpected(head, 'manifest');
    const entries: ManifestEntry[] = [];
    for (;;) {
      const next = await this.message();
      if (next.t === 'manifest-end') {
        if (next.count !== entries.length)
          throw new SyncError(
            'protocol',
            `${this.peer}: manifest announced ${next.count} entries, sent ${entries.length}`,
          );
        return {
          roots: head.roots,
          entries,
          ...(head.rootMeta === undefined ? {} : { rootMeta: head.rootMeta }),
          ...(head.copy === undefined ? {} : { copy: head.copy }),
        };
      }
      if (next.t !== 'entries') throw this.unexpected(next, 'entries or manifest-end');
      if (entries.length + next.entries.length > MAX_ENTRIES)
        throw new SyncError('limit', `${this.peer}: manifest has more than ${MAX_ENTRIES} entries; refused`);
      entries.push(...next.entries);
    }
  }

  /** The confined tree an entry lives in, and its path there. */
  private place(entry: { root: number; path: string }): { tree: ConfinedTree; path: string } {
    const root = this.roots[entry.root];
    const tree = this.trees[entry.root];
    if (root === undefined || tree === undefined || tree === null || root.resolved.real === null)
      throw new SyncError('manifest', `no root ${entry.root} here`);
    // A single-file root is the name `basename(real)` in its parent directory.
    return { tree, path: entry.path === '' ? basename(root.resolved.real) : entry.path };
  }

  /** Gives each directory root in scope the mode and owner the primary's has (when it says). */
  private async applyRootMeta(remote: Manifest, scope: ReadonlySet<number>): Promise<void> {
    for (const [index, meta] of (remote.rootMeta ?? []).entries()) {
      const tree = this.trees[index];
      if (meta === null || tree === null || tree === undefined || !scope.has(index)) continue;
      if (this.roots[index]?.resolved.kind !== 'dir') continue;
      await tree.setMeta('', meta, 'dir');
    }
  }

  /** Records that the directory holding `path` changed: fsynced before the pull counts as done. */
  private markDirty(tree: ConfinedTree, path: string): void {
    const dir = parentOf(path);
    this.dirty.set(`${tree.base}\u0000${dir}`, { tree, dir });
  }

  /** Deletes entries (deepest first), or moves them aside for the roots in `this.aside`. */
  private async removeAll(entries: readonly ManifestEntry[]): Promise<void> {
    const asideRoots = new Set(this.aside.keys());
    for (const entry of entries) if (!asideRoots.has(entry.root)) await this.remove(entry);
    for (const entry of topmost(entries, asideRoots)) await this.moveAside(entry);
  }

  /**
   * Moves an entry (a directory with everything under it) into this pull's directory under
   * `asideDir`, by one rename from its confined parent. A state_dir on another filesystem
   * (EXDEV) or none configured: the entry stays where it is, reported as a problem.
   */
  private async moveAside(entry: ManifestEntry): Promise<void> {
    const { tree, path } = this.place(entry);
    const reason = this.aside.get(entry.root) ?? '';
    if (this.options.asideDir === undefined) {
      this.result.problems.push({
        kind: 'io',
        text: `${describeEntry(entry)} not deleted: ${reason} (no state_dir to move it aside to)`,
      });
      return;
    }
    this.result.asideDir ??= join(this.options.asideDir, new Date().toISOString().replace(/[:.]/g, '-'));
    const destination = join(this.result.asideDir, `root-${entry.root}`, path);
    // The aside directory holds copies of anything, secrets included: root only.
    await mkdir(dirname(destination), { recursive: true, mode: 0o700 });
    try {
      await tree.inParent(path, (dir, name) => rename(at(dir, name), destination));
    } catch (error) {
      const cause = error instanceof Error && 'cause' in error ? error.cause : error;
      if (code(cause) === 'ENOENT') return;
      if (code(cause) !== 'EXDEV') throw error;
      this.result.problems.push({
        kind: 'io',
        text: `${describeEntry(entry)} not deleted: ${reason}, and ${this.options.asideDir} is on another filesystem, so it cannot be moved aside`,
      });
      return;
    }
    this.markDirty(tree, path);
    this.result.movedAside += 1;
  }

  /** One warning per pull that moved anything aside: where to, how much, why. */
  private reportAside(): void {
    if (this.result.movedAside === 0 || this.result.asideDir === null) return;
    const why = [...this.aside].map(([root, reason]) => `root ${root}: ${reason}`).join('; ');
    this.options.log(
      'warn',
      'sync-aside',
      `moved ${this.result.movedAside} entr${this.result.movedAside === 1 ? 'y' : 'ies'} the primary no longer has to ${this.result.asideDir} instead of deleting them (${why}); check the primary's copy, then restore or delete them`,
      { count: this.result.movedAside, dir: this.result.asideDir, roots: [...this.aside.keys()].join(',') },
    );
  }

  private async remove(entry: ManifestEntry): Promise<void> {
    const { tree, path } = this.place(entry);
    await tree.remove(path);
    this.markDirty(tree, path);
    this.result.deleted += 1;
  }

  /** Copies files; those that keep changing while read are tried again, up to COPY_ATTEMPTS. */
  private async fetchAll(files: readonly FileEntry[]): Promise<void> {
    let pending: readonly FileEntry[] = files;
    for (let attempt = 1; attempt <= COPY_ATTEMPTS && pending.length > 0; attempt++)
      pending = await this.fetchRound(pending);
    for (const entry of pending) {
      this.result.problems.push({
        kind: 'io',
        text: `${describeEntry(entry)} kept changing while being copied (${COPY_ATTEMPTS} attempts); the previous version is kept`,
      });
    }
  }

  /**
   * One pass over `files`: asks up to GET_WINDOW files ahead (the round trips overlap), and
   * lets up to COMMITS_IN_FLIGHT complete copies be fsynced and renamed while the next ones
   * stream in. Returns the files that changed while they were read.
   */
  private async fetchRound(files: readonly FileEntry[]): Promise<FileEntry[]> {
    const changed: FileEntry[] = [];
    const commits = new Set<Promise<void>>();
    let failure: unknown = null;
    let asked = 0;
    try {
      for (const [index, entry] of files.entries()) {
        for (; asked < files.length && asked - index < GET_WINDOW; asked++) {
          const next = files[asked];
          if (next !== undefined) await this.writer.header({ t: 'get', root: next.root, path: next.path });
        }
        const { tree, path } = this.place(entry);
        const outcome = await this.receive(entry, tree, path);
        if (outcome === 'changed') changed.push(entry);
        else if (outcome === 'too-big')
          this.result.problems.push({
            kind: 'limit',
            text: `${describeEntry(entry)} grew over max_file_bytes (${this.options.limits.maxFileBytes}) while being copied; not copied`,
          });
        else if (outcome !== 'gone') {
          const { bytes } = outcome;
          const commit: Promise<void> = outcome.commit().then(
            () => {
              this.markDirty(tree, path);
              this.result.files += 1;
              this.result.bytes += bytes;
              commits.delete(commit);
            },
            (error: unknown) => {
              failure ??= error;
              commits.delete(commit);
            },
          );
          commits.add(commit);
          if (commits.size >= COMMITS_IN_FLIGHT) await Promise.race(commits);
        }
        if (failure !== null) throw failure;
      }
    } finally {
      // Never return with a rename still pending: what is reported is what is on disk.
      await Promise.all([...commits]);
    }
    if (failure !== null) throw failure;
    return changed;
  }

  /**
   * One file off the wire. A small file is kept in memory (at most BUFFER_MAX) and written
   * whole when committed; a larger one streams into an atomic write as it arrives. Only a
   * complete copy whose size and hash match is returned for commit.
   */
  private async receive(
    entry: FileEntry,
    tree: ConfinedTree,
    path: string,
  ): Promise<'gone' | 'changed' | 'too-big' | Received> {
    const head = await this.message();
    if (head.t === 'missing') {
      if (head.root !== entry.root || head.path !== entry.path)
        throw this.unexpected(head, `file ${describeEntry(entry)}`);
      this.options.log('debug', 'sync-file-gone', `${describeEntry(entry)}: ${head.reason}; left for the next sync`);
      return 'gone';
    }
    if (head.t !== 'file' || head.root !== entry.root || head.path !== entry.path)
      throw this.unexpected(head, `file ${describeEntry(entry)}`);
    const hooks = this.options.hooks ?? {};
    let file: AtomicFile | null = null;
    let buffered: Buffer[] = [];
    try {
      const hash = createHash('sha256');
      let received = 0;
      let tooBig = false;
      for (;;) {
        const frame = await this.reader.next();
        if (frame === null)
          throw new SyncError('connect', `${this.peer}: the connection ended inside ${describeEntry(entry)}`);
        if (frame.kind === 'header') {
          const end = parseServerMessage(frame.value);
          if (end.t === 'error') throw new SyncError('protocol', `${this.peer} reports: ${end.message}`);
          if (end.t !== 'end') throw this.unexpected(end, 'end');
          const sha256 = hash.digest('hex');
          if (!tooBig && (end.size !== received || end.sha256 !== sha256)) {
            throw new SyncError(
              'protocol',
              `${this.peer}: ${describeEntry(entry)} arrived with ${received} bytes and hash ${sha256.slice(0, 12)}…, but the primary announced ${end.size} bytes and ${end.sha256.slice(0, 12)}…; connection dropped`,
            );
          }
          // Rule: a file that changed while the primary read it may be torn; keep the old copy.
          if (tooBig || !end.stable) {
            await file?.abort();
            return tooBig ? 'too-big' : 'changed';
          }
          const meta = { mode: end.mode, mtimeMs: end.mtimeMs, ...ownerOf(entry) };
          if (file !== null) {
            const streamed = file;
            return { bytes: received, commit: () => streamed.commit(meta, false) };
          }
          const data = Buffer.concat(buffered);
          return {
            bytes: received,
            commit: async () => void (await writeConfinedAtomic(tree, path, data, meta, hooks)),
          };
        }
        received += frame.bytes.length;
        if (received > this.options.limits.maxFileBytes) tooBig = true;
        // Past the limit the rest is read and dropped, to stay in step with the stream.
        if (tooBig) continue;
        hash.update(frame.bytes);
        if (file === null && received <= BUFFER_MAX) {
          buffered.push(frame.bytes);
          continue;
        }
        if (file === null) {
          file = await AtomicFile.createConfined(tree, path, hooks);
          for (const piece of buffered) await file.write(piece);
          buffered = [];
        }
        await file.write(frame.bytes);
      }
    } catch (error) {
      await file?.abort();
      throw error;
    }
  }
}

/** The tree a root's writes go through: the root directory, or a single-file root's parent. */
function treeOf(root: PreparedRoot): ConfinedTree | null {
  const { kind, real } = root.resolved;
  if (real === null || root.problem !== null) return null;
  return new ConfinedTree(kind === 'file' ? dirname(real) : real);
}

/** The owner a manifest entry carries, if any (an older primary sends none). */
function ownerOf(entry: FileEntry): { uid?: number; gid?: number } {
  return entry.uid === undefined || entry.gid === undefined ? {} : { uid: entry.uid, gid: entry.gid };
}
