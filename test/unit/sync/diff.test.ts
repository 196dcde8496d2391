import { expect } from 'chai';
import { planSync } from '../../../src/sync/client/diff.js';
import type { DirEntry, FileEntry, ManifestEntry, SymlinkEntry } from '../../../src/sync/wire/types.js';

const H1 = '1'.repeat(64);
const H2 = '2'.repeat(64);

function file(path: string, sha256 = H1, extra: Partial<FileEntry> = {}): FileEntry {
  return { type: 'file', root: 0, path, size: 10, mode: 0o644, mtimeMs: 1000, sha256, ...extra };
}
function dir(path: string, mode = 0o755, root = 0): DirEntry {
  return { type: 'dir', root, path, mode };
}
function link(path: string, target: string): SymlinkEntry {
  return { type: 'symlink', root: 0, path, target };
}
const paths = (entries: readonly ManifestEntry[]): string[] => entries.map((e) => `${e.root}:${e.path}`);
const ALL = { roots: new Set([0, 1]) };

describe('sync/diff: the primary manifest against the local one', () => {
  it('does nothing when both sides are equal', () => {
    const same = [dir('d'), file('d/a'), link('l', 'd/a')];
    const plan = planSync(same, same, ALL);
    expect(plan).to.deep.equal({ clear: [], mkdirs: [], fetch: [], links: [], meta: [], remove: [] });
  });

  it('fetches new files and files whose content differs, and only those', () => {
    const local = [file('same'), file('changed', H1), file('resized', H1)];
    const remote = [file('same'), file('changed', H2), file('resized', H1, { size: 11 }), file('new')];
    expect(paths(planSync(remote, local, ALL).fetch)).to.deep.equal(['0:changed', '0:resized', '0:new']);
  });

  it('changes metadata only when just the mode or mtime differs', () => {
    const local = [file('mode'), file('time'), file('sub-ms'), dir('d', 0o700)];
    const remote = [
      file('mode', H1, { mode: 0o600 }),
      file('time', H1, { mtimeMs: 5000 }),
      file('sub-ms', H1, { mtimeMs: 1000.0004 }),
      dir('d', 0o750),
    ];
    const plan = planSync(remote, local, ALL);
    expect(plan.fetch).to.deep.equal([]);
    expect(paths(plan.meta)).to.deep.equal(['0:mode', '0:time', '0:d']);
  });

  it('propagates deletions, deepest first', () => {
    const local = [dir('d'), dir('d/e'), file('d/e/f'), file('d/g'), file('keep')];
    const remote = [file('keep')];
    expect(paths(planSync(remote, local, ALL).remove)).to.deep.equal(['0:d/e/f', '0:d/g', '0:d/e', '0:d']);
  });

  it('creates directories parents first', () => {
    const remote = [dir('a'), dir('a/b'), dir('a/b/c'), dir('z')];
    expect(paths(planSync([...remote].reverse(), [], ALL).mkdirs)).to.deep.equal(['0:a', '0:z', '0:a/b', '0:a/b/c']);
  });

  it('clears a directory that became a file (and what was under it) before writing', () => {
    const local = [dir('x'), file('x/inner'), dir('x/sub'), file('x/sub/deep')];
    const remote = [file('x')];
    const plan = planSync(remote, local, ALL);
    expect(paths(plan.clear)).to.deep.equal(['0:x/sub/deep', '0:x/sub', '0:x/inner', '0:x']);
    expect(paths(plan.fetch)).to.deep.equal(['0:x']);
    expect(plan.remove).to.deep.equal([]);
  });

  it('clears a file that became a directory; a file that became a symlink is replaced by rename', () => {
    const plan = planSync([dir('x'), link('y', 'x')], [file('x'), file('y')], ALL);
    expect(paths(plan.clear)).to.deep.equal(['0:x']);
    expect(paths(plan.mkdirs)).to.deep.equal(['0:x']);
    expect(paths(plan.links)).to.deep.equal(['0:y']);
    expect(plan.remove).to.deep.equal([]);
  });

  it('re-points symlinks whose target changed', () => {
    expect(paths(planSync([link('l', 'b')], [link('l', 'a')], ALL).links)).to.deep.equal(['0:l']);
  });

  it('matches roots by index: the same path in another root is another entry', () => {
    const plan = planSync([dir('d', 0o755, 1)], [dir('d', 0o755, 0)], ALL);
    expect(paths(plan.mkdirs)).to.deep.equal(['1:d']);
    expect(paths(plan.remove)).to.deep.equal(['0:d']);
  });

  it('leaves roots out of scope alone on both sides', () => {
    const plan = planSync([dir('new', 0o755, 1)], [dir('old', 0o755, 1)], { roots: new Set([0]) });
    expect(plan).to.deep.equal({ clear: [], mkdirs: [], fetch: [], links: [], meta: [], remove: [] });
  });

  it('keeps entries it is told to keep (an oversized file keeps its old copy)', () => {
    const plan = planSync([file('big', H2)], [file('big', H1)], { roots: new Set([0]), keep: new Set(['0\u0000big']) });
    expect(plan.fetch).to.deep.equal([]);
    expect(plan.remove).to.deep.equal([]);
  });
});
