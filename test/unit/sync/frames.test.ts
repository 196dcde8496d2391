import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { SyncError } from '../../../hal/errors/index.js';
import { FrameReader, FrameWriter, MAX_DATA_BYTES, MAX_HEADER_BYTES } from '../../../src/sync/wire/frames.js';

/** An iterator that hands the bytes over in pieces of `size` (frames cut anywhere). */
async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function written(write: (writer: FrameWriter) => Promise<void>): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (chunk: Buffer) => chunks.push(chunk));
  await write(new FrameWriter(sink, 'test'));
  sink.end();
  return Buffer.concat(chunks);
}

describe('sync/frames: length-prefixed headers and data', () => {
  it('round-trips headers and data, however the bytes are cut', async () => {
    const bytes = await written(async (w) => {
      await w.header({ t: 'hello', v: 1, roots: 2 });
      await w.data(Buffer.alloc(3000, 7));
      await w.frames([
        { header: { t: 'file', root: 0, path: 'a' } },
        { data: Buffer.from('xyz') },
        { header: { t: 'end' } },
      ]);
    });
    for (const size of [1, 7, 4096]) {
      const reader = new FrameReader(pieces(bytes, size), 'peer');
      expect(await reader.header()).to.deep.equal({ t: 'hello', v: 1, roots: 2 });
      const data = await reader.next();
      expect(data?.kind === 'data' && data.bytes.equals(Buffer.alloc(3000, 7))).to.equal(true);
      expect(await reader.header()).to.deep.equal({ t: 'file', root: 0, path: 'a' });
      const small = await reader.next();
      expect(small?.kind === 'data' && small.bytes.toString()).to.equal('xyz');
      expect(await reader.header()).to.deep.equal({ t: 'end' });
      expect(await reader.next()).to.equal(null);
    }
  });

  it('splits data larger than one frame', async () => {
    const bytes = await written((w) => w.data(Buffer.alloc(MAX_DATA_BYTES + 10)));
    const reader = new FrameReader(pieces(bytes, 65536), 'peer');
    const sizes: number[] = [];
    for (let f = await reader.next(); f !== null; f = await reader.next())
      if (f.kind === 'data') sizes.push(f.bytes.length);
    expect(sizes).to.deep.equal([MAX_DATA_BYTES, 10]);
  });

  const refused: Array<[string, Buffer, RegExp]> = [
    [
      'an oversized header',
      Buffer.from([0x48, 0x00, 0x10, 0x00, 0x01]),
      new RegExp(`exceeds the limit of ${MAX_HEADER_BYTES}`),
    ],
    ['an oversized data frame', Buffer.from([0x44, 0x00, 0x10, 0x00, 0x01]), /outside 1\.\./],
    ['an empty data frame', Buffer.from([0x44, 0, 0, 0, 0]), /outside 1\.\./],
    ['an unknown type', Buffer.from([0x00, 0, 0, 0, 1, 0]), /unknown frame type 0x0/],
    ['a connection cut inside a prefix', Buffer.from([0x48, 0, 0]), /ended inside a frame/],
    ['a connection cut inside a payload', Buffer.from([0x48, 0, 0, 0, 9, 0x7b]), /ended inside a frame/],
    [
      'a header that is not JSON',
      Buffer.concat([Buffer.from([0x48, 0, 0, 0, 3]), Buffer.from('{x}')]),
      /not valid JSON/,
    ],
  ];
  for (const [what, bytes, why] of refused) {
    it(`refuses ${what}`, async () => {
      const reader = new FrameReader(pieces(bytes, 2), 'peer');
      let error: unknown = null;
      await reader.next().catch((e: unknown) => {
        error = e;
      });
      expect(error).to.be.instanceOf(SyncError);
      expect(String(error))
        .to.match(why)
        .and.match(/connection dropped/);
    });
  }
});
