import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../../hal/store/index.js';
import { FileStore } from '../../../hal/store/linux.js';
import { SimStore } from '../../../hal/store/sim.js';

/** One contract, every implementation: the simulated store and the file store. */
const implementations: Array<{
  name: string;
  make: () => { store: Store; cleanup: () => void; corrupt?: () => void };
}> = [
  { name: 'SimStore', make: () => ({ store: new SimStore(), cleanup: () => {} }) },
  {
    name: 'FileStore',
    make: () => {
      const dir = mkdtempSync(join(tmpdir(), 'hotspare-store-'));
      return {
        store: new FileStore(join(dir, 'state')),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
        corrupt: () => writeFileSync(join(dir, 'state', 'role.json'), '{"role": "prim'),
      };
    },
  },
];

for (const impl of implementations) {
  describe(`Store contract: ${impl.name}`, () => {
    let made: ReturnType<(typeof implementations)[number]['make']>;
    beforeEach(() => (made = impl.make()));
    afterEach(() => made.cleanup());

    it('loads null when nothing was saved', async () => {
      expect(await made.store.load()).to.equal(null);
    });

    it('loads what was saved last', async () => {
      await made.store.save({ role: 'monitor', epoch: 1, reason: 'first', atMs: 1 });
      await made.store.save({ role: 'primary', epoch: 2, reason: 'took over', atMs: 2 });
      expect(await made.store.load()).to.deep.equal({ role: 'primary', epoch: 2, reason: 'took over', atMs: 2 });
    });

    const onDisk = impl.name === 'FileStore';
    (onDisk ? it : it.skip)(
      `a corrupt record is an error naming the file, not a silent default${onDisk ? '' : ' (skipped: the simulated store has no file to corrupt)'}`,
      async () => {
        await made.store.save({ role: 'monitor', epoch: 1, reason: 'x', atMs: 1 });
        made.corrupt?.();
        try {
          await made.store.load();
          expect.fail('loaded a corrupt record');
        } catch (error) {
          expect(String(error)).to.contain('role.json');
        }
      },
    );
  });
}
