import { expect } from 'chai';
import { decodeLeaseFrame, encodeLeaseFrame, isLeaseDatagram } from '../../../src/lease/frame.js';
import type { LeaseFrame } from '../../../src/lease/frame.js';
import { PeerKey } from '../../../src/peer/key.js';

const KEY = PeerKey.fromSecret(Buffer.from('lease frame test key, 32 bytes!!'));
const FRAME: LeaseFrame = {
  path: 'lan',
  kind: 'grant',
  from: 'b',
  to: 'a',
  nonce: new Uint8Array(16).fill(7),
  counter: 42,
  epoch: 9,
  seq: 123456,
};

describe('lease frame', () => {
  it('round-trips every field, and is told apart from a heartbeat', () => {
    const data = encodeLeaseFrame(FRAME, KEY);
    expect(isLeaseDatagram(data)).to.equal(true);
    expect(isLeaseDatagram(Buffer.from('HSPB....'))).to.equal(false);
    const d = decodeLeaseFrame(data, KEY);
    expect(d.ok).to.equal(true);
    if (d.ok) expect({ ...d.frame, nonce: [...d.frame.nonce] }).to.deep.equal({ ...FRAME, nonce: [...FRAME.nonce] });
  });

  it('refuses another key, any altered byte, a truncation and another major version', () => {
    const data = encodeLeaseFrame(FRAME, KEY);
    const other = PeerKey.fromSecret(Buffer.from('another key of at least 16 bytes'));
    expect(decodeLeaseFrame(data, other)).to.deep.include({ ok: false });
    for (const at of [6, 7, 30, 45, data.length - 1]) {
      const bad = Buffer.from(data);
      bad[at] = (bad[at] ?? 0) ^ 1;
      expect(decodeLeaseFrame(bad, KEY).ok, `byte ${at}`).to.equal(false);
    }
    expect(decodeLeaseFrame(data.subarray(0, data.length - 5), KEY).ok).to.equal(false);
    const v2 = Buffer.from(data);
    v2[4] = 2;
    const r = decodeLeaseFrame(v2, KEY);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.reason).to.match(/version 2/);
  });

  it('never throws on garbage', () => {
    for (let i = 0; i < 200; i++) {
      const junk = Buffer.concat([
        Buffer.from('HSPL'),
        Buffer.from(Array.from({ length: i }, (_, j) => (j * 37 + i) & 255)),
      ]);
      expect(decodeLeaseFrame(junk, KEY).ok).to.equal(false);
    }
  });
});
