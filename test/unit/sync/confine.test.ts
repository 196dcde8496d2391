import { expect } from 'chai';
import { parentOf, pathProblem, symlinkTargetProblem } from '../../../src/sync/wire/confine.js';
import { isTempName, tempNameFor } from '../../../src/sync/wire/temp-name.js';

describe('sync/confine: manifest paths stay inside their root', () => {
  it('accepts plain relative paths', () => {
    for (const ok of ['a', 'a/b/c.txt', 'with space/ünïcode', '.hidden', '..dots', 'a/...', 'back\\slash']) {
      expect(pathProblem(ok), ok).to.equal(null);
    }
  });

  const refused: Array<[string, RegExp]> = [
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['..', /\.\. component/],
    ['../x', /\.\. component/],
    ['a/../../x', /\.\. component/],
    ['a/..', /\.\. component/],
    ['a//b', /empty component/],
    ['a/', /empty component/],
    ['./a', /\. component/],
    ['a/./b', /\. component/],
    ['a\u0000b', /NUL/],
    [`${'x'.repeat(256)}`, /longer than 255/],
    [`${'abc/'.repeat(1100)}x`, /longer than 4096/],
    ['a/.f.hotspare-tmp-0123abcd', /temporary/],
  ];
  for (const [path, why] of refused) {
    it(`refuses ${JSON.stringify(path.length > 40 ? `${path.slice(0, 40)}…` : path)}`, () => {
      expect(pathProblem(path)).to.match(why);
    });
  }

  it('accepts symlinks that stay inside the root', () => {
    expect(symlinkTargetProblem('link', 'a/b')).to.equal(null);
    expect(symlinkTargetProblem('d/link', '../x')).to.equal(null);
    expect(symlinkTargetProblem('d/e/link', '../../x/y')).to.equal(null);
    expect(symlinkTargetProblem('d/link', './same-dir')).to.equal(null);
  });

  it('refuses symlinks that point out, absolutely or by climbing', () => {
    expect(symlinkTargetProblem('link', '/etc/passwd')).to.match(/absolute/);
    expect(symlinkTargetProblem('link', '..')).to.match(/outside its root/);
    expect(symlinkTargetProblem('d/link', '../../x')).to.match(/outside its root/);
    expect(symlinkTargetProblem('link', 'a\u0000')).to.match(/NUL/);
    expect(symlinkTargetProblem('link', '')).to.match(/empty/);
  });

  it('refuses a .. after a name (it could climb out through a symlinked directory)', () => {
    expect(symlinkTargetProblem('d/e/link', 'sub/../x')).to.match(/after a name/);
    expect(symlinkTargetProblem('link', 'dirlink/../../..')).to.match(/after a name/);
  });

  it('names parents', () => {
    expect(parentOf('a')).to.equal('');
    expect(parentOf('a/b/c')).to.equal('a/b');
  });

  it('recognizes its own temporary names and only those', () => {
    const name = tempNameFor('key.pem');
    expect(name).to.match(/^\.key\.pem\.hotspare-tmp-[0-9a-f]{8}$/);
    expect(isTempName(name)).to.equal(true);
    expect(isTempName('key.pem')).to.equal(false);
    expect(isTempName('.key.pem.hotspare-tmp-xyz')).to.equal(false);
    expect(Buffer.byteLength(tempNameFor('é'.repeat(255)))).to.be.at.most(255);
  });
});
