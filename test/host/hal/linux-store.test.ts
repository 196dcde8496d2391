import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../../hal/store/linux.js';
import type { RoleRecord } from '../../../hal/store/index.js';
import { StoreError } from '../../../hal/errors/index.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('hal/store/linux FileStore', () => {
  let base: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hst-store-'));
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const record: RoleRecord = {
    role: 'primary',
    epoch: 7,
    reason: 'took over from 198.18.0.2',
    atMs: 1_700_000_000_000,
  };

  it('loads null when nothing was saved, even if the directory is missing', async () => {
    expect(await new FileStore(join(base, 'missing')).load()).to.equal(null);
    expect(await new FileStore(base).load()).to.equal(null);
  });

  it('saves and loads a record, creating the directory with mode 0700', async () => {
    const dir = join(base, 'state', 'hotspare');
    const store = new FileStore(dir);
    await store.save(record);
    expect(await store.load()).to.deep.equal(record);
    expect((await stat(dir)).mode & 0o777).to.equal(0o700);
    expect(await new FileStore(dir).load()).to.deep.equal(record);
  });

  it('replaces the record and leaves no temporary files', async () => {
    const store = new FileStore(base);
    await store.save(record);
    await store.save({ ...record, role: 'spare', epoch: 8 });
    await Promise.all([store.save({ ...record, epoch: 9 }), store.save({ ...record, epoch: 10 })]);
    const loaded = await store.load();
    expect(loaded?.epoch).to.be.oneOf([9, 10]);
    expect(await readdir(base)).to.deep.equal(['role.json']);
  });

  it('writes plain JSON', async () => {
    await new FileStore(base).save(record);
    expect(JSON.parse(await readFile(join(base, 'role.json'), 'utf8'))).to.deep.equal(record);
  });

  const corrupt: Array<[string, string]> = [
    ['bad JSON', '{"role": "primary", "epoch": '],
    ['empty file', ''],
    ['an array', '[1, 2]'],
    ['null', 'null'],
    ['unknown role', JSON.stringify({ ...record, role: 'king' })],
    ['missing role', JSON.stringify({ epoch: 1, reason: '', atMs: 0 })],
    ['missing epoch', JSON.stringify({ role: 'spare', reason: '', atMs: 0 })],
    ['string epoch', JSON.stringify({ ...record, epoch: '7' })],
    ['negative epoch', JSON.stringify({ ...record, epoch: -1 })],
    ['fractional epoch', JSON.stringify({ ...record, epoch: 1.5 })],
    ['missing reason', JSON.stringify({ role: 'spare', epoch: 1, atMs: 0 })],
    ['missing atMs', JSON.stringify({ role: 'spare', epoch: 1, reason: '' })],
    ['poweredOff not a list', JSON.stringify({ ...record, poweredOff: 'a' })],
    ['poweredOff with a bad name', JSON.stringify({ ...record, poweredOff: ['a', '../x'] })],
    ['poweredOffAt without atUs', JSON.stringify({ ...record, poweredOff: ['a'], poweredOffAt: { bootId: 'b' } })],
    [
      'poweredOffAt with a negative time',
      JSON.stringify({ ...record, poweredOff: ['a'], poweredOffAt: { bootId: 'b', atUs: -1 } }),
    ],
    [
      'poweredOffAt with a bad boot ID',
      JSON.stringify({ ...record, poweredOff: ['a'], poweredOffAt: { bootId: 'a b', atUs: 1 } }),
    ],
  ];
  for (const [what, text] of corrupt) {
    it(`rejects a corrupt record (${what}) with StoreError naming the file`, async () => {
      const file = join(base, 'role.json');
      await writeFile(file, text);
      const error = await rejection(new FileStore(base).load());
      expect(error).to.be.instanceOf(StoreError);
      expect((error as StoreError).message).to.include(file);
      expect((error as StoreError).context['file']).to.equal(file);
    });
  }

  it('refuses to save an invalid record', async () => {
    const invalid = { ...record, epoch: Number.NaN };
    const error = await rejection(new FileStore(base).save(invalid));
    expect(error).to.be.instanceOf(StoreError);
    expect(await readdir(base)).to.deep.equal([]);
  });

  it('rejects with StoreError when the directory cannot be created', async () => {
    const blocker = join(base, 'file');
    await writeFile(blocker, 'not a directory');
    const error = await rejection(new FileStore(join(blocker, 'state')).save(record));
    expect(error).to.be.instanceOf(StoreError);
    expect((error as StoreError).message).to.include(join(blocker, 'state', 'role.json'));
  });

  it('keeps the list of servers powered off by a takeover', async () => {
    const store = new FileStore(base);
    await store.save({ ...record, poweredOff: ['a', 'c'] });
    expect(await store.load()).to.deep.equal({ ...record, poweredOff: ['a', 'c'] });
  });

  it('keeps when they were powered off: the boot ID and the monotonic time', async () => {
    const store = new FileStore(base);
    const poweredOffAt = { bootId: '8d1f6a3e-5c2b-4a77-9a0e-3f1c2b4d5e6f', atUs: 64_669_368_658 };
    await store.save({ ...record, poweredOff: ['a'], poweredOffAt });
    expect(await store.load()).to.deep.equal({ ...record, poweredOff: ['a'], poweredOffAt });
  });

  it('checkWritable leaves nothing behind where it can write, and names the file where it cannot', async () => {
    await new FileStore(base).checkWritable();
    expect(await readdir(base)).to.deep.equal([]);
    const blocker = join(base, 'file');
    await writeFile(blocker, 'not a directory');
    const error = await rejection(new FileStore(join(blocker, 'state')).checkWritable());
    expect(error).to.be.instanceOf(StoreError);
    expect((error as StoreError).message).to.include('not writable');
  });

  it('rejects with StoreError when role.json is unreadable (a directory)', async () => {
    await mkdir(join(base, 'role.json'));
    const error = await rejection(new FileStore(base).load());
    expect(error).to.be.instanceOf(StoreError);
  });
});
