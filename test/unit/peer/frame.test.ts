import { expect } from 'chai';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, MAJOR, NONCE_BYTES, PeerKey, ReplayGuard } from '../../../src/peer/index.js';
import type { PeerFrame } from '../../../src/peer/index.js';
import { RETIRED } from '../../../src/peer/replay.js';

const KEY = PeerKey.fromSecret(Buffer.from('a peer key of thirty-two bytes!!'));
const OTHER = PeerKey.fromSecret(Buffer.from('another key, also long enough...'));
const NONCE = Uint8Array.from({ length: NONCE_BYTES }, (_, i) => i + 1);
const NONCE2 = Uint8Array.from({ length: NONCE_BYTES }, (_, i) => 200 - i);

function frame(over: Partial<PeerFrame> = {}): PeerFrame {
  return {
    path: 'lan',
    from: 'b',
    to: 'a',
    nonce: NONCE,
    counter: 7,
    phase: 'monitor',
    role: 'monitor',
    epoch: 12,
    holdsPrimary: false,
    holdsMonitor: true,
    ...over,
  };
}

/** The frame encoded, then re-signed after `edit` (a member with the key sending it). */
function resigned(edit: (body: Buffer) => void, key = KEY): Buffer {
  const data = encodeFrame(frame(), KEY);
  const body = Buffer.from(data.subarray(0, data.length - 32));
  edit(body);
  return Buffer.concat([body, key.tag(body)]);
}

describe('peer frame codec', () => {
  it('round-trips a frame, every field', () => {
    for (const f of [
      frame(),
      frame({ path: 'mgmt', holdsPrimary: true, holdsMonitor: false, phase: 'primary', role: 'primary' }),
      frame({ counter: Number.MAX_SAFE_INTEGER, epoch: 0, from: 'node-with_32-characters-long-xyz', to: 'Z' }),
    ]) {
      const decoded = decodeFrame(encodeFrame(f, KEY), KEY);
      expect(decoded).to.deep.equal({ ok: true, minor: 0, frame: f });
    }
  });

  it('carries no absolute time and no key: the same frame encodes to the same bytes', () => {
    const a = encodeFrame(frame(), KEY);
    const b = encodeFrame(frame(), KEY);
    expect(a.equals(b)).to.equal(true);
    expect(a.includes(Buffer.from('a peer key'))).to.equal(false);
    expect(JSON.stringify({ KEY })).to.not.contain('peer key of');
  });

  it('refuses every single tampered byte (the HMAC covers everything)', () => {
    const data = encodeFrame(frame(), KEY);
    for (let i = 0; i < data.length; i++) {
      for (const flip of [0x01, 0x80]) {
        const bad = Buffer.from(data);
        bad[i] = (bad[i] ?? 0) ^ flip;
        const decoded = decodeFrame(bad, KEY);
        expect(decoded.ok, `byte ${i} ^ ${flip}`).to.equal(false);
      }
    }
  });

  it('refuses each tampered field, named', () => {
    const data = encodeFrame(frame(), KEY);
    const at = { path: 6, flags: 7, nonce: 8, counter: 31, epoch: 39, from: 41, to: 43, phase: 45 };
    for (const [field, offset] of Object.entries(at)) {
      const bad = Buffer.from(data);
      bad[offset] = (bad[offset] ?? 0) ^ 0x02;
      const decoded = decodeFrame(bad, KEY);
      expect(decoded.ok, field).to.equal(false);
      if (!decoded.ok) expect(decoded.reason, field).to.equal('unauthenticated');
    }
    // The tag itself, truncated, extended.
    const cut = decodeFrame(data.subarray(0, data.length - 1), KEY);
    expect(cut.ok).to.equal(false);
    const longer = decodeFrame(Buffer.concat([data, Buffer.from([0])]), KEY);
    expect(longer.ok).to.equal(false);
  });

  it('refuses a frame made with another key', () => {
    const decoded = decodeFrame(encodeFrame(frame(), OTHER), KEY);
    expect(decoded).to.deep.include({ ok: false, reason: 'unauthenticated' });
  });

  it('refuses another major version before anything else, saying which', () => {
    const bad = resigned((b) => (b[4] = MAJOR + 1));
    const decoded = decodeFrame(bad, KEY);
    expect(decoded.ok).to.equal(false);
    if (!decoded.ok) {
      expect(decoded.reason).to.equal('version');
      expect(decoded.detail).to.contain('protocol version 2.0');
    }
    // Even unauthenticated: another version's layout cannot be checked by this one.
    expect(
      decodeFrame(
        resigned((b) => (b[4] = 0), OTHER),
        KEY,
      ),
    ).to.deep.include({ reason: 'version' });
  });

  it('accepts a later minor version with appended fields, reading what it knows', () => {
    const bad = resigned((b) => (b[5] = 3));
    const withExtra = Buffer.concat([bad.subarray(0, bad.length - 32), Buffer.from([9, 9, 9])]);
    const decoded = decodeFrame(Buffer.concat([withExtra, KEY.tag(withExtra)]), KEY);
    expect(decoded).to.deep.include({ ok: true, minor: 3 });
  });

  it('refuses authenticated but malformed content (a buggy member)', () => {
    const cases: Array<[string, (b: Buffer) => void]> = [
      ['unknown path', (b) => (b[6] = 2)],
      ['unknown flags', (b) => (b[7] = 4)],
      ['string overrun', (b) => (b[40] = 200)],
      ['huge counter', (b) => b.writeBigUInt64BE(2n ** 60n, 24)],
    ];
    for (const [name, edit] of cases) expect(decodeFrame(resigned(edit), KEY), name).to.deep.include({ ok: false });
    // An unknown phase: re-encode by hand with a phase string of the same length.
    const body = Buffer.from(encodeFrame(frame(), KEY).subarray(0, -32));
    const phaseAt = body.indexOf(Buffer.from('monitor'), 44);
    body.write('monitox', phaseAt, 'latin1');
    expect(decodeFrame(Buffer.concat([body, KEY.tag(body)]), KEY)).to.deep.include({ reason: 'malformed' });
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeFrame(frame({ from: '' }), KEY)).to.throw(RangeError);
    expect(() => encodeFrame(frame({ from: 'x'.repeat(33) }), KEY)).to.throw(RangeError);
    expect(() => encodeFrame(frame({ nonce: new Uint8Array(4) }), KEY)).to.throw(RangeError);
    expect(() => encodeFrame(frame({ counter: -1 }), KEY)).to.throw(RangeError);
  });

  it('key files follow the sync key rules: at least 16 bytes', () => {
    expect(() => PeerKey.fromSecret(Buffer.from('short\n'))).to.throw(/at least 16/);
    expect(() => PeerKey.fromSecret(Buffer.from('0123456789abcdef\n'))).to.not.throw();
  });

  describe('fuzz (fast-check)', () => {
    it('random bytes never throw and never authenticate', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
          const decoded = decodeFrame(bytes, KEY);
          return decoded.ok === false;
        }),
        { numRuns: 3000 },
      );
    });

    it('random edits of a good frame never throw; with the right key re-signed they never throw either', () => {
      const good = encodeFrame(frame(), KEY);
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat({ max: good.length + 8 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
          fc.integer({ min: -40, max: 8 }),
          fc.boolean(),
          (edits, grow, sign) => {
            let body = Buffer.from(good.subarray(0, good.length - 32));
            if (grow < 0) body = body.subarray(0, Math.max(0, body.length + grow));
            else body = Buffer.concat([body, Buffer.alloc(grow)]);
            for (const [i, v] of edits) if (i < body.length) body[i] = v;
            const data = sign ? Buffer.concat([body, KEY.tag(body)]) : Buffer.concat([body, good.subarray(-32)]);
            decodeFrame(data, KEY);
            return true;
          },
        ),
        { numRuns: 3000 },
      );
    });
  });
});

describe('peer replay guard', () => {
  it('accepts only a higher counter for the same boot, per path', () => {
    const g = new ReplayGuard();
    expect(g.admit(frame({ counter: 5 }))).to.deep.equal({ ok: true, newBoot: false });
    expect(g.admit(frame({ counter: 5 }))).to.deep.include({ ok: false, reason: 'replay' });
    expect(g.admit(frame({ counter: 4 }))).to.deep.include({ ok: false, reason: 'replay' });
    expect(g.admit(frame({ counter: 6 }))).to.deep.include({ ok: true });
    // The other path interleaves the same counter: judged on its own.
    expect(g.admit(frame({ counter: 3, path: 'mgmt' }))).to.deep.include({ ok: true });
    expect(g.admit(frame({ counter: 3, path: 'mgmt' }))).to.deep.include({ reason: 'replay' });
  });

  it('a new boot with an epoch at least the last is accepted, and the old boot is refused from then on', () => {
    const g = new ReplayGuard();
    g.admit(frame({ counter: 100, epoch: 12 }));
    g.admit(frame({ counter: 101, epoch: 12, path: 'mgmt' }));
    expect(g.admit(frame({ nonce: NONCE2, counter: 1, epoch: 12 }))).to.deep.equal({ ok: true, newBoot: true });
    // Old boot's frames, even with higher counters, on either path.
    expect(g.admit(frame({ counter: 500, epoch: 12 }))).to.deep.include({ ok: false, reason: 'old-boot' });
    expect(g.admit(frame({ counter: 500, epoch: 13, path: 'mgmt' }))).to.deep.include({ reason: 'old-boot' });
    // The new boot on the other path is the same boot: accepted.
    expect(g.admit(frame({ nonce: NONCE2, counter: 2, epoch: 12, path: 'mgmt' }))).to.deep.include({ ok: true });
  });

  it('a new boot with a lower epoch than already seen is refused', () => {
    const g = new ReplayGuard();
    g.admit(frame({ counter: 9, epoch: 12 }));
    expect(g.admit(frame({ nonce: NONCE2, counter: 1, epoch: 11 }))).to.deep.include({ reason: 'old-epoch' });
    expect(g.admit(frame({ counter: 10, epoch: 12 }))).to.deep.include({ ok: true });
  });

  it('remembers a bounded number of retired boots, the newest', () => {
    const g = new ReplayGuard();
    const nonces = Array.from({ length: RETIRED + 5 }, (_, n) =>
      Uint8Array.from({ length: NONCE_BYTES }, (_, i) => (i === 0 ? n : 0)),
    );
    for (const nonce of nonces) expect(g.admit(frame({ nonce, counter: 1 }))).to.deep.include({ ok: true });
    // The latest RETIRED boots before the current one are refused.
    for (const nonce of nonces.slice(-RETIRED - 1, -1))
      expect(g.admit(frame({ nonce, counter: 99 }))).to.deep.include({ reason: 'old-boot' });
    expect(g.admit(frame({ nonce: nonces.at(-1)!, counter: 2 }))).to.deep.include({ ok: true });
  });

  it('senders are independent', () => {
    const g = new ReplayGuard();
    g.admit(frame({ counter: 9, epoch: 50 }));
    expect(g.admit(frame({ from: 'c', counter: 1, epoch: 1 }))).to.deep.include({ ok: true });
  });
});
