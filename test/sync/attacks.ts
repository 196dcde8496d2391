/**
 * Hostile primaries: each attack holds the key but sends garbage or a hostile manifest.
 * Used by the unit test (test/sync/hostile.test.ts, loopback) and the lab's hostile
 * primary (test/sync/fixtures/hostile-primary.ts), with the message the monitor must refuse it with.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { SyncErrorKind } from '../../hal/errors/sync-error.js';
import type { FrameReader, FrameWriter } from '../../src/sync/wire/frames.js';

const H = (text: string): string => createHash('sha256').update(text).digest('hex');
const NOW = Date.now();

export interface Peer {
  socket: TLSSocket;
  reader: FrameReader;
  writer: FrameWriter;
}

/** `roots`: how many roots the monitor has (the hello must match to get further). */
export type Script = (peer: Peer, roots: number) => Promise<void>;

async function hello(peer: Peer, roots: number): Promise<void> {
  await peer.reader.header();
  await peer.writer.header({ t: 'hello', v: 1, roots });
}

async function manifest(
  peer: Peer,
  roots: number,
  entries: unknown[],
  count = entries.length,
  head: Record<string, unknown> = {},
): Promise<void> {
  await peer.reader.header();
  await peer.writer.header({ t: 'manifest', roots: Array.from({ length: roots }, () => 'dir'), ...head });
  await peer.writer.header({ t: 'entries', entries });
  await peer.writer.header({ t: 'manifest-end', count });
}

const file = (path: string, content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'file',
  root: 0,
  path,
  size: content.length,
  mode: 0o644,
  mtimeMs: NOW,
  sha256: H(content),
  ...extra,
});

export interface Attack {
  name: string;
  kind: SyncErrorKind;
  message: RegExp;
  script: Script;
  /** The monitor's sync.timeout_ms this attack needs (it waits the monitor out). */
  timeoutMs?: number;
}

export const ATTACKS: Attack[] = [
  {
    name: 'a path climbing out with ..',
    kind: 'confine',
    message: /"\.\.\/escaped" of root 0 has a \.\. component/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('../escaped', 'pwned')]);
    },
  },
  {
    name: 'an absolute path',
    kind: 'confine',
    message: /"\/tmp\/escaped" of root 0 is absolute/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('/tmp/escaped', 'pwned')]);
    },
  },
  {
    name: 'a symlink pointing out',
    kind: 'confine',
    message: /symlink root 0: evil points to the absolute path "\/etc"/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [{ type: 'symlink', root: 0, path: 'evil', target: '/etc' }]);
    },
  },
  {
    name: 'a symlink climbing out',
    kind: 'confine',
    message: /points to "\.\.\/\.\.\/x", outside its root/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [
        { type: 'dir', root: 0, path: 'd', mode: 0o755 },
        { type: 'symlink', root: 0, path: 'd/evil', target: '../../x' },
      ]);
    },
  },
  {
    name: 'a NUL in a path',
    kind: 'confine',
    message: /NUL/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('a\u0000b', 'x')]);
    },
  },
  {
    name: 'a file under a symlink (write through it)',
    kind: 'manifest',
    message: /parent "l" is a symlink/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [
        { type: 'symlink', root: 0, path: 'l', target: 'd' },
        { type: 'dir', root: 0, path: 'd', mode: 0o755 },
        file('l/x', 'x'),
      ]);
    },
  },
  {
    name: 'duplicate entries',
    kind: 'manifest',
    message: /listed twice/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('keep.txt', 'a'), file('keep.txt', 'b')]);
    },
  },
  {
    name: 'a temporary-file name',
    kind: 'confine',
    message: /temporary file/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('.keep.txt.hotspare-tmp-00000000', 'x')]);
    },
  },
  {
    name: 'a different number of roots',
    kind: 'roots',
    message: /replicates \d+ root\(s\), this server \d+/,
    script: async (p, n) => {
      await hello(p, n + 2);
    },
  },
  {
    name: 'a wrong entry count',
    kind: 'protocol',
    message: /announced 5 entries, sent 1/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x')], 5);
    },
  },
  {
    name: 'a negative size',
    kind: 'protocol',
    message: /size must be an integer/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x', { size: -5 })]);
    },
  },
  {
    name: 'an owner with a uid but no gid',
    kind: 'protocol',
    message: /manifest entry "new\.txt" has uid without gid/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x', { uid: 4242 })]);
    },
  },
  {
    name: 'an owner of 2^32-1 (chown\'s "leave unchanged")',
    kind: 'protocol',
    message: /uid must be an integer in 0\.\.4294967294, got 4294967295/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x', { uid: 4294967295, gid: 0 })]);
    },
  },
  {
    name: 'a negative gid',
    kind: 'protocol',
    message: /gid must be an integer in 0\.\.4294967294, got -1/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x', { uid: 0, gid: -1 })]);
    },
  },
  {
    name: 'a root mode with the setuid bit',
    kind: 'protocol',
    message: /mode must be an integer in 0\.\.511, got 2559/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x')], 1, {
        rootMeta: Array.from({ length: n }, () => ({ mode: 0o4777, uid: 0, gid: 0 })),
      });
    },
  },
  {
    name: 'root metadata for the wrong number of roots',
    kind: 'protocol',
    message: /manifest\.rootMeta must be a list of \d+ item\(s\), one per root/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('new.txt', 'x')], 1, { rootMeta: [] });
    },
  },
  {
    name: 'an unknown message',
    kind: 'protocol',
    message: /unknown message "format-disk"/,
    script: async (p, n) => {
      await hello(p, n);
      await p.reader.header();
      await p.writer.header({ t: 'format-disk' });
    },
  },
  {
    name: 'a 4 GiB header',
    kind: 'protocol',
    message: /a header of 4294967295 bytes exceeds the limit/,
    script: async (p, n) => {
      await hello(p, n);
      p.socket.write(Buffer.from([0x48, 0xff, 0xff, 0xff, 0xff]));
    },
  },
  {
    name: 'a header that is not JSON',
    kind: 'protocol',
    message: /not valid JSON/,
    script: async (p, n) => {
      await hello(p, n);
      const junk = Buffer.from('{"t": "manifest", oops');
      const prefix = Buffer.from([0x48, 0, 0, 0, 0]);
      prefix.writeUInt32BE(junk.length, 1);
      p.socket.write(Buffer.concat([prefix, junk]));
    },
  },
  {
    name: 'an unknown frame type',
    kind: 'protocol',
    message: /unknown frame type 0x5a/,
    script: async (p, n) => {
      await hello(p, n);
      p.socket.write(Buffer.from([0x5a, 0, 0, 0, 1, 0]));
    },
  },
  {
    name: 'file data where a header belongs',
    kind: 'protocol',
    message: /file data arrived where a header was expected/,
    script: async (p, n) => {
      await hello(p, n);
      await p.writer.data(Buffer.from('surprise'));
    },
  },
  {
    name: 'a file whose bytes do not match its hash',
    kind: 'protocol',
    message: /keep\.txt arrived with 6 bytes and hash .* but the primary announced 6 bytes and/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('keep.txt', 'honest')]);
      await p.reader.header();
      await p.writer.header({ t: 'file', root: 0, path: 'keep.txt' });
      await p.writer.data(Buffer.from('forged'));
      await p.writer.header({ t: 'end', size: 6, sha256: H('honest'), mode: 0o644, mtimeMs: NOW, stable: true });
    },
  },
  {
    name: 'another file than the one asked for',
    kind: 'protocol',
    message: /sent file where file root 0: keep\.txt was expected/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('keep.txt', 'new')]);
      await p.reader.header();
      await p.writer.header({ t: 'file', root: 0, path: 'other.txt' });
    },
  },
  {
    name: 'a connection cut in the middle of a file',
    kind: 'connect',
    message: /ended inside root 0: keep\.txt|connection lost/,
    script: async (p, n) => {
      await hello(p, n);
      await manifest(p, n, [file('keep.txt', 'x'.repeat(100_000))]);
      await p.reader.header();
      await p.writer.header({ t: 'file', root: 0, path: 'keep.txt' });
      await p.writer.data(Buffer.from('x'.repeat(50_000)));
      p.socket.end();
    },
  },
  {
    name: 'a primary that stops answering',
    kind: 'timeout',
    message: /nothing moved for \d+ ms/,
    timeoutMs: 300,
    script: async (p, n) => {
      await hello(p, n);
    },
  },
  {
    name: 'an error message from the primary',
    kind: 'protocol',
    message: /reports: disk on fire/,
    script: async (p, n) => {
      await hello(p, n);
      await p.reader.header();
      await p.writer.header({ t: 'error', message: 'disk on fire' });
    },
  },
];
