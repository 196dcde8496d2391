/**
 * Pure RMCP+ codec of hal/bmc/rmcp/: packets, handshake payloads, IPMI messages, keys.
 * The key and code vectors were computed independently (Python hmac/hashlib, openssl enc) from
 * the formulas of IPMI v2.0 §13.28-13.32; interoperability itself is shown by the lab test
 * against ipmi_sim (test/lab/bmc-rmcp.test.ts).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { cipherSuite, decryptPayload, deriveKeys, encryptPayload } from '../../../hal/bmc/rmcp/cipher-suite.js';
import { RmcpCodecError, isRmcpCodecError } from '../../../hal/bmc/rmcp/codec-error.js';
import {
  decodeOpenSessionResponse,
  decodeRakp2,
  encodeOpenSessionRequest,
  encodeRakp1,
  kuidOf,
  rakp2Code,
  rakp3Code,
  rakp4Code,
} from '../../../hal/bmc/rmcp/handshake.js';
import type { Exchange } from '../../../hal/bmc/rmcp/handshake.js';
import {
  checksum,
  decodeIpmiRequest,
  decodeIpmiResponse,
  encodeIpmiRequest,
  encodeIpmiResponse,
  powerFromChassisStatus,
} from '../../../hal/bmc/rmcp/ipmi-message.js';
import {
  PayloadType,
  decodeSessionHeader,
  encodeSessionPacket,
  openSessionPacket,
} from '../../../hal/bmc/rmcp/packet.js';
import type { SessionSecurity } from '../../../hal/bmc/rmcp/packet.js';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const range = (from: number, count: number): Buffer => Buffer.from(Array.from({ length: count }, (_, i) => from + i));

function exchange(suiteId: number): Exchange {
  return {
    suite: cipherSuite(suiteId),
    kuid: kuidOf(Buffer.from('secret-pass')),
    consoleSessionId: 0x11223344,
    bmcSessionId: 0x55667788,
    consoleRandom: range(0x00, 16),
    bmcRandom: range(0x10, 16),
    bmcGuid: range(0xa0, 16),
    role: 0x14,
    username: Buffer.from('admin'),
  };
}

function codecError(run: () => unknown): RmcpCodecError {
  try {
    run();
  } catch (error) {
    if (isRmcpCodecError(error)) return error;
    throw error;
  }
  throw new Error('expected an RmcpCodecError');
}

describe('hal/bmc/rmcp codec', () => {
  describe('keys and key-exchange codes (independent vectors)', () => {
    it('suite 3 (HMAC-SHA1): SIK, K1, K2 and the RAKP 2/3/4 codes', () => {
      const x = exchange(3);
      const keys = deriveKeys(x.suite, x.kuid, x.consoleRandom, x.bmcRandom, x.role, x.username);
      expect(keys.sik.toString('hex')).to.equal('7d804cf75de99c9a2c79264097ab0b88bca25a97');
      expect(keys.k1.toString('hex')).to.equal('f6bb7269e622bb3938897cd2dc94ef25a073a155');
      expect(keys.k2.toString('hex')).to.equal('267ddef2b112d50b1cf053ef4708c5131bb269b6');
      expect(rakp2Code(x).toString('hex')).to.equal('20429bcbf13bce57211bc73067b3966654fdc64c');
      expect(rakp3Code(x).toString('hex')).to.equal('017a3469209199a8eb1bec24f0f80ac78569d434');
      // RAKP 4 carries HMAC-SHA1-96: the first 12 bytes.
      expect(rakp4Code(x, keys.sik).toString('hex')).to.equal('5c77d2b47fac99414c19a0ec');
    });

    it('suite 17 (HMAC-SHA256): SIK, K1, K2 and the codes, RAKP 4 truncated to 16 bytes', () => {
      const x = exchange(17);
      const keys = deriveKeys(x.suite, x.kuid, x.consoleRandom, x.bmcRandom, x.role, x.username);
      expect(keys.sik.toString('hex')).to.equal('06480d4cacd38a8bb583d29be174bd0b290890dca1d55283ccfddddfa2d2a249');
      expect(keys.k1.toString('hex')).to.equal('bbf6c54e507b88802c567fb64ab9cd27511f2f0e4ec4fd34a9312bc45d386367');
      expect(keys.k2.toString('hex')).to.equal('ad8b70e282946b3e711e26ed7382eeec246d728bfecc5109dcc77c9a355fb271');
      expect(rakp2Code(x).toString('hex')).to.equal('1f2db2fe5c317aa1e6de41d5a768de0c3dcef4b715d9862137428bc656bfd437');
      expect(rakp3Code(x).toString('hex')).to.equal('424052cd6f8575320ee17385bc3cccd602570f12dab2db2df5fc3e0f4c0e979a');
      expect(rakp4Code(x, keys.sik).toString('hex')).to.equal('98c30ef691e0839db069631e2b82d8be');
    });

    it('AES-CBC-128 with pad 1,2,3..: matches openssl, and round-trips every length', () => {
      const k2 = hex('267ddef2b112d50b1cf053ef4708c5131bb269b6');
      const iv = range(0, 16);
      expect(encryptPayload(k2, Buffer.from('hello'), iv).toString('hex')).to.equal(
        `${iv.toString('hex')}186f38fac791c4554d7d97f35456dab4`,
      );
      for (let length = 0; length <= 40; length += 1) {
        const data = range(0x40, length);
        expect(decryptPayload(k2, encryptPayload(k2, data))).to.deep.equal(data);
      }
    });

    it('a bad encrypted payload is a codec error', () => {
      const k2 = Buffer.alloc(20, 7);
      expect(codecError(() => decryptPayload(k2, Buffer.alloc(40))).message).to.match(/whole number of AES blocks/);
      expect(codecError(() => decryptPayload(k2, Buffer.alloc(8))).message).to.match(/at least 32/);
    });

    it('unsupported cipher suites are refused by number', () => {
      expect(codecError(() => cipherSuite(2)).message).to.contain('suite 2 is not supported (supported: 3, 17)');
    });

    it('Kuid pads the password to 20 bytes and refuses longer ones without quoting them', () => {
      expect(kuidOf(Buffer.from('ab')).toString('hex')).to.equal(`6162${'00'.repeat(18)}`);
      const error = codecError(() => kuidOf(Buffer.from('x'.repeat(21))));
      expect(error.message).to.not.contain('xxx');
    });
  });

  describe('session packets', () => {
    const security: SessionSecurity = { suite: cipherSuite(3), k1: Buffer.alloc(20, 1), k2: Buffer.alloc(20, 2) };

    it('unauthenticated packets: fixed header layout and round trip', () => {
      const datagram = encodeSessionPacket({
        payloadType: PayloadType.openSessionRequest,
        sessionId: 0,
        sequence: 0,
        payload: Buffer.from([1, 2, 3]),
      });
      expect(datagram.toString('hex')).to.equal('0600ff07' + '06' + '10' + '00000000' + '00000000' + '0300' + '010203');
      const raw = decodeSessionHeader(datagram);
      expect(raw).to.include({ payloadType: 0x10, encrypted: false, authenticated: false, sessionId: 0, sequence: 0 });
      expect(raw.payload).to.deep.equal(Buffer.from([1, 2, 3]));
    });

    it('authenticated + encrypted packets round-trip; the integrity range is a multiple of 4', () => {
      for (let length = 0; length < 24; length += 1) {
        const payload = range(0x30, length);
        const datagram = encodeSessionPacket({ payloadType: 0, sessionId: 0xdeadbeef, sequence: 7, payload }, security);
        expect((datagram.length - 4 - 12) % 4).to.equal(0);
        const raw = decodeSessionHeader(datagram);
        expect(raw).to.include({ encrypted: true, authenticated: true, sessionId: 0xdeadbeef, sequence: 7 });
        expect(openSessionPacket(raw, security).payload).to.deep.equal(payload);
      }
    });

    it('any flipped bit, a wrong key or a downgrade to an unprotected packet is refused', () => {
      const datagram = encodeSessionPacket(
        { payloadType: 0, sessionId: 1, sequence: 1, payload: Buffer.from('chassis') },
        security,
      );
      for (let at = 4; at < datagram.length; at += 1) {
        const bad = Buffer.from(datagram);
        bad[at] = (bad[at] ?? 0) ^ 0x01;
        expect(() => openSessionPacket(decodeSessionHeader(bad), security), `byte ${at}`).to.throw(RmcpCodecError);
      }
      expect(
        codecError(() => openSessionPacket(decodeSessionHeader(datagram), { ...security, k1: Buffer.alloc(20, 9) }))
          .message,
      ).to.match(/AuthCode/);
      const plain = encodeSessionPacket({ payloadType: 0, sessionId: 1, sequence: 1, payload: Buffer.from('chassis') });
      expect(codecError(() => openSessionPacket(decodeSessionHeader(plain), security)).message).to.match(
        /unauthenticated unencrypted/,
      );
    });

    it('truncated, foreign and IPMI 1.5 datagrams are codec errors', () => {
      const datagram = encodeSessionPacket({ payloadType: 0x11, sessionId: 0, sequence: 0, payload: Buffer.alloc(36) });
      for (let length = 0; length < datagram.length; length += 1) {
        expect(() => decodeSessionHeader(datagram.subarray(0, length)), `length ${length}`).to.throw(RmcpCodecError);
      }
      expect(
        codecError(() => decodeSessionHeader(Buffer.concat([hex('0600ff06'), Buffer.alloc(16)]))).message,
      ).to.match(/not an IPMI RMCP/);
      expect(
        codecError(() => decodeSessionHeader(Buffer.concat([hex('0600ff0700'), Buffer.alloc(16)]))).message,
      ).to.match(/not RMCP\+/);
    });

    it('random bytes never raise anything but RmcpCodecError (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, rmcpPrefix) => {
          const datagram = Buffer.concat([rmcpPrefix ? hex('0600ff0706') : Buffer.alloc(0), Buffer.from(bytes)]);
          try {
            openSessionPacket(decodeSessionHeader(datagram), security);
          } catch (error) {
            return isRmcpCodecError(error);
          }
          return false;
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('handshake payloads', () => {
    it("Open Session Request proposes the suite's three algorithms", () => {
      const request = encodeOpenSessionRequest({
        tag: 5,
        privilege: 4,
        consoleSessionId: 0x01020304,
        suite: cipherSuite(3),
      });
      expect(request.toString('hex')).to.equal(
        '05040000' + '04030201' + '0000000801000000' + '0100000801000000' + '0200000801000000',
      );
      const suite17 = encodeOpenSessionRequest({ tag: 5, privilege: 4, consoleSessionId: 1, suite: cipherSuite(17) });
      expect([suite17[12], suite17[20], suite17[28]]).to.deep.equal([0x03, 0x04, 0x01]);
    });

    it('Open Session Response and RAKP 2 decode; short error answers carry the status', () => {
      const response = Buffer.concat([
        hex('0500040044332211' + '88776655'),
        hex('0000000801000000' + '0100000801000000' + '0200000801000000'),
      ]);
      expect(decodeOpenSessionResponse(response)).to.include({
        tag: 5,
        status: 0,
        consoleSessionId: 0x11223344,
        bmcSessionId: 0x55667788,
        authAlgorithm: 1,
        integrityAlgorithm: 1,
        confidentialityAlgorithm: 1,
      });
      expect(decodeOpenSessionResponse(hex('0511000044332211'))).to.include({ status: 0x11 });
      // ipmi_sim with every session slot taken answers tag and status only.
      expect(decodeOpenSessionResponse(hex('0701'))).to.include({ tag: 7, status: 0x01, consoleSessionId: 0 });
      expect(() => decodeOpenSessionResponse(hex('07'))).to.throw(RmcpCodecError);
      expect(() => decodeOpenSessionResponse(response.subarray(0, 20))).to.throw(RmcpCodecError);
      expect(decodeRakp2(hex('070d000044332211'))).to.include({ status: 0x0d });
      expect(() => decodeRakp2(hex('0700000044332211'))).to.throw(RmcpCodecError);
    });

    it('RAKP 1 carries role and user name; over-long names are refused', () => {
      const rakp1 = encodeRakp1({
        tag: 1,
        bmcSessionId: 0x55667788,
        consoleRandom: range(0, 16),
        role: 0x14,
        username: Buffer.from('admin'),
      });
      expect(rakp1.length).to.equal(33);
      expect(rakp1.subarray(24).toString('hex')).to.equal('14000005' + Buffer.from('admin').toString('hex'));
      expect(() =>
        encodeRakp1({
          tag: 1,
          bmcSessionId: 1,
          consoleRandom: range(0, 16),
          role: 0x14,
          username: Buffer.alloc(17, 0x61),
        }),
      ).to.throw(RmcpCodecError);
    });
  });

  describe('IPMI messages', () => {
    it('Get Chassis Status request bytes and checksums', () => {
      expect(encodeIpmiRequest({ netFn: 0x00, cmd: 0x01, rqSeq: 1, data: Buffer.alloc(0) }).toString('hex')).to.equal(
        '2000e08104017a',
      );
      expect(checksum(hex('2000'))).to.equal(0xe0);
    });

    it('responses round-trip; checksum, direction and address errors are codec errors', () => {
      const response = encodeIpmiResponse({ netFn: 0x00, cmd: 0x01, rqSeq: 9, completionCode: 0, data: hex('010000') });
      expect(decodeIpmiResponse(response)).to.deep.include({ netFn: 0, cmd: 1, rqSeq: 9, completionCode: 0 });
      expect(powerFromChassisStatus(decodeIpmiResponse(response).data)).to.equal('on');
      const badSum = Buffer.from(response);
      badSum[7] = 0;
      expect(codecError(() => decodeIpmiResponse(badSum)).message).to.match(/checksum/);
      const request = encodeIpmiRequest({ netFn: 0x00, cmd: 0x01, rqSeq: 9, data: hex('0000') });
      expect(() => decodeIpmiResponse(request)).to.throw(RmcpCodecError);
      expect(() => decodeIpmiResponse(response.subarray(0, 6))).to.throw(RmcpCodecError);
      expect(decodeIpmiRequest(request)).to.deep.include({ netFn: 0, cmd: 1, rqSeq: 9 });
      expect(() => powerFromChassisStatus(hex('01'))).to.throw(RmcpCodecError);
    });
  });
});
