import { expect } from 'chai';
import { SyncError } from '../../../hal/errors/index.js';
import { checkLimits } from '../../../src/sync/wire/limits.js';
import { parseEntry, parseServerMessage } from '../../../src/sync/wire/messages.js';
import type { Manifest, ManifestEntry } from '../../../src/sync/wire/types.js';
import { validateManifest } from '../../../src/sync/wire/validate.js';

const H = 'a'.repeat(64);
const f = (path: string, root = 0, size = 1): ManifestEntry => ({
  type: 'file',
  root,
  path,
  size,
  mode: 0o644,
  mtimeMs: 1,
  sha256: H,
});
const d = (path: string, root = 0): ManifestEntry => ({ type: 'dir', root, path, mode: 0o755 });

function refusal(manifest: Manifest, roots = manifest.roots.length): SyncError {
  try {
    validateManifest(manifest, roots);
  } catch (error) {
    expect(error).to.be.instanceOf(SyncError);
    return error as SyncError;
  }
  throw new Error('expected the manifest to be refused');
}

describe('sync/validate: a hostile or malformed manifest is refused whole', () => {
  it('accepts a well-formed manifest', () => {
    expect(() =>
      validateManifest(
        {
          roots: ['dir', 'file', 'absent'],
          entries: [d('a'), f('a/b'), f('', 1), { type: 'symlink', root: 0, path: 'l', target: 'a/b' }],
        },
        3,
      ),
    ).not.to.throw();
  });

  it('refuses paths that escape, naming the entry', () => {
    for (const path of ['../etc/passwd', '/etc/passwd', 'a/../../x', 'a\u0000b', './a', 'a//b']) {
      const error = refusal({ roots: ['dir'], entries: [f(path)] });
      expect(error.kind, path).to.equal('confine');
      expect(error.message).to.include(JSON.stringify(path));
    }
  });

  it('refuses symlinks pointing out of the root', () => {
    const error = refusal({ roots: ['dir'], entries: [{ type: 'symlink', root: 0, path: 'l', target: '/etc' }] });
    expect(error.kind).to.equal('confine');
    expect(error.message).to.match(/symlink root 0: l points to the absolute path/);
    expect(
      refusal({ roots: ['dir'], entries: [d('a'), { type: 'symlink', root: 0, path: 'a/l', target: '../../x' }] }).kind,
    ).to.equal('confine');
  });

  it('refuses a root count that differs from this server (roots match by position)', () => {
    expect(refusal({ roots: ['dir', 'dir'], entries: [] }, 1).kind).to.equal('roots');
  });

  it('refuses entries of unknown or absent roots, and extra entries in a file root', () => {
    expect(refusal({ roots: ['dir'], entries: [f('x', 3)] }).kind).to.equal('manifest');
    expect(refusal({ roots: ['absent'], entries: [f('x')] }).kind).to.equal('manifest');
    expect(refusal({ roots: ['file'], entries: [f('', 0), f('x', 0)] }).kind).to.equal('confine');
    expect(refusal({ roots: ['dir'], entries: [f('')] }).kind).to.equal('confine');
    expect(refusal({ roots: ['file'], entries: [] }).kind).to.equal('manifest');
  });

  it('refuses duplicates and entries whose parent is not a listed directory', () => {
    expect(refusal({ roots: ['dir'], entries: [f('x'), f('x')] }).message).to.match(/listed twice/);
    expect(refusal({ roots: ['dir'], entries: [f('x'), d('x')] }).message).to.match(/listed twice/);
    expect(refusal({ roots: ['dir'], entries: [f('a/b')] }).message).to.match(/parent "a" is not listed/);
    expect(refusal({ roots: ['dir'], entries: [f('a'), f('a/b')] }).message).to.match(/parent "a" is a file/);
    expect(
      refusal({ roots: ['dir'], entries: [{ type: 'symlink', root: 0, path: 'a', target: 'b' }, d('b'), f('a/x')] })
        .message,
    ).to.match(/parent "a" is a symlink/);
  });
});

describe('sync/messages: malformed entries and messages', () => {
  const bad: unknown[] = [
    null,
    [],
    'x',
    { type: 'file', root: 0, path: 'a', size: -1, mode: 0o644, mtimeMs: 1, sha256: H },
    { type: 'file', root: 0, path: 'a', size: 1.5, mode: 0o644, mtimeMs: 1, sha256: H },
    { type: 'file', root: 0, path: 'a', size: 1, mode: 0o4755, mtimeMs: 1, sha256: H },
    { type: 'file', root: 0, path: 'a', size: 1, mode: 0o644, mtimeMs: 1, sha256: 'A'.repeat(64) },
    { type: 'file', root: 0, path: 'a', size: 1, mode: 0o644, sha256: H },
    { type: 'file', root: -1, path: 'a', size: 1, mode: 0o644, mtimeMs: 1, sha256: H },
    { type: 'file', root: 0, path: 7, size: 1, mode: 0o644, mtimeMs: 1, sha256: H },
    { type: 'fifo', root: 0, path: 'a' },
    { type: 'symlink', root: 0, path: 'a' },
    { type: 'file', root: 0, path: 'x'.repeat(5000), size: 1, mode: 0o644, mtimeMs: 1, sha256: H },
  ];
  bad.forEach((value, i) => {
    it(`refuses malformed entry #${i}`, () => {
      expect(() => parseEntry(value)).to.throw(SyncError, /malformed message/);
    });
  });

  it('refuses unknown messages and wrong field types', () => {
    expect(() => parseServerMessage({ t: 'rm -rf' })).to.throw(SyncError, /unknown message/);
    expect(() => parseServerMessage({ t: 'manifest', roots: ['dir', 'elsewhere'] })).to.throw(
      SyncError,
      /unknown root kind/,
    );
    expect(() => parseServerMessage({ t: 'end', size: 1, sha256: H, mode: 0o644, mtimeMs: 1, stable: 'yes' })).to.throw(
      SyncError,
      /stable/,
    );
    expect(() => parseServerMessage({ t: 'entries', entries: {} })).to.throw(SyncError, /must be a list/);
  });
});

describe('sync/limits', () => {
  const limits = { maxFileBytes: 100, maxTotalBytes: 250 };

  it('leaves out files over max_file_bytes and names them', () => {
    const check = checkLimits([f('small', 0, 100), f('big', 0, 101)], limits);
    expect(check.oversized.map((e) => e.path)).to.deep.equal(['big']);
    expect(check.totalBytes).to.equal(100);
  });

  it('refuses a set over max_total_bytes, naming the file where it crossed', () => {
    expect(() => checkLimits([f('a', 0, 100), f('b', 0, 100), f('c', 0, 100)], limits)).to.throw(
      SyncError,
      /max_total_bytes \(250\) at root 0: c/,
    );
  });
});
