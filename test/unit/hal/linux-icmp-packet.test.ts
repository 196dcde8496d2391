import { expect } from 'chai';
import fc from 'fast-check';
import {
  buildEchoRequest,
  buildIpv4Header,
  internetChecksum,
  parseEchoReply,
  parseIpv4,
} from '../../../hal/icmp/packet.js';

/** An echo reply as a raw IPv4 socket delivers it: IP header (valid checksum) + ICMP. */
function replyDatagram(
  identifier: number,
  sequence: number,
  payload = Buffer.from('hotspare'),
  options: { ihl?: number } = {},
): Buffer {
  const icmp = buildEchoRequest(identifier, sequence, payload);
  icmp.writeUInt8(0, 0);
  icmp.writeUInt16BE(0, 2);
  icmp.writeUInt16BE(internetChecksum(icmp), 2);
  const ihl = options.ihl ?? 5;
  const header = Buffer.alloc(ihl * 4);
  buildIpv4Header('198.18.200.2', '198.18.200.1').copy(header);
  header.writeUInt8(0x40 | ihl, 0);
  header.writeUInt16BE(header.length + icmp.length, 2);
  header.writeUInt16BE(0, 10);
  header.writeUInt16BE(internetChecksum(header), 10);
  return Buffer.concat([header, icmp]);
}

/** Recomputes the ICMP checksum after a test changed the ICMP part. */
function fixIcmpChecksum(datagram: Buffer): Buffer {
  const ihl = (datagram.readUInt8(0) & 0x0f) * 4;
  datagram.writeUInt16BE(0, ihl + 2);
  datagram.writeUInt16BE(internetChecksum(datagram, ihl, datagram.length), ihl + 2);
  return datagram;
}

describe('hal/icmp/packet', () => {
  describe('buildEchoRequest', () => {
    it('builds type 8 code 0 with identifier, sequence, payload and a valid checksum', () => {
      const packet = buildEchoRequest(0x1234, 0xfedc, Buffer.from('abc'));
      expect(packet.length).to.equal(11);
      expect(packet.readUInt8(0)).to.equal(8);
      expect(packet.readUInt8(1)).to.equal(0);
      expect(packet.readUInt16BE(4)).to.equal(0x1234);
      expect(packet.readUInt16BE(6)).to.equal(0xfedc);
      expect(packet.subarray(8).toString()).to.equal('abc');
      expect(internetChecksum(packet)).to.equal(0);
    });

    it('matches a known-good packet (the raw-socket README ping)', () => {
      const payload = Buffer.from('abcdefghijklmnopqrstuvwabcdefghi');
      const packet = buildEchoRequest(0x0001, 0x0a09, payload);
      expect(packet.readUInt16BE(2)).to.equal(0x4352);
    });

    it('rejects identifiers and sequences outside 16 bits', () => {
      expect(() => buildEchoRequest(-1, 0)).to.throw(RangeError);
      expect(() => buildEchoRequest(0, 0x10000)).to.throw(RangeError);
      expect(() => buildEchoRequest(1.5, 0)).to.throw(RangeError);
    });
  });

  describe('parseEchoReply', () => {
    it('parses a well-formed echo reply', () => {
      const reply = parseEchoReply(replyDatagram(0xbeef, 7));
      expect(reply).to.not.equal(null);
      expect(reply?.from).to.equal('198.18.200.2');
      expect(reply?.to).to.equal('198.18.200.1');
      expect(reply?.identifier).to.equal(0xbeef);
      expect(reply?.sequence).to.equal(7);
      expect(reply?.payload.toString()).to.equal('hotspare');
    });

    it('honours IP options (IHL > 5)', () => {
      const reply = parseEchoReply(replyDatagram(1, 2, Buffer.alloc(0), { ihl: 7 }));
      expect(reply?.identifier).to.equal(1);
      expect(reply?.sequence).to.equal(2);
    });

    it('returns null for every truncation', () => {
      const datagram = replyDatagram(1, 2);
      for (let length = 0; length < datagram.length; length += 1) {
        expect(parseEchoReply(datagram.subarray(0, length)), `length ${length}`).to.equal(null);
      }
    });

    it('returns null for a bad ICMP checksum', () => {
      const datagram = replyDatagram(1, 2);
      datagram.writeUInt16BE(datagram.readUInt16BE(22) ^ 0x0101, 22);
      expect(parseEchoReply(datagram)).to.equal(null);
    });

    it('returns null for a bad IP header checksum', () => {
      const datagram = replyDatagram(1, 2);
      datagram.writeUInt16BE(datagram.readUInt16BE(10) ^ 0x0101, 10);
      expect(parseEchoReply(datagram)).to.equal(null);
    });

    it('returns null for other ICMP types and codes', () => {
      for (const [type, code] of [
        [8, 0],
        [3, 1],
        [11, 0],
        [0, 1],
      ] as const) {
        const datagram = replyDatagram(1, 2);
        datagram.writeUInt8(type, 20);
        datagram.writeUInt8(code, 21);
        expect(parseEchoReply(fixIcmpChecksum(datagram)), `type ${type} code ${code}`).to.equal(null);
      }
    });

    it('returns null when the protocol is not ICMP, the version not 4, or IHL below 5', () => {
      const udp = replyDatagram(1, 2);
      udp.writeUInt8(17, 9);
      udp.writeUInt16BE(0, 10);
      udp.writeUInt16BE(internetChecksum(udp, 0, 20), 10);
      expect(parseEchoReply(udp)).to.equal(null);
      const v6 = replyDatagram(1, 2);
      v6.writeUInt8(0x65, 0);
      expect(parseEchoReply(v6)).to.equal(null);
      const shortIhl = replyDatagram(1, 2);
      shortIhl.writeUInt8(0x44, 0);
      expect(parseEchoReply(shortIhl)).to.equal(null);
    });

    it('returns null when the IP total length disagrees with the data', () => {
      const longer = replyDatagram(1, 2);
      longer.writeUInt16BE(longer.length + 1, 2);
      expect(parseEchoReply(longer)).to.equal(null);
      const tooShort = replyDatagram(1, 2);
      tooShort.writeUInt16BE(27, 2);
      expect(parseEchoReply(tooShort)).to.equal(null);
    });

    it('returns null for fragments', () => {
      const datagram = replyDatagram(1, 2);
      datagram.writeUInt16BE(0x2000, 6);
      datagram.writeUInt16BE(0, 10);
      datagram.writeUInt16BE(internetChecksum(datagram, 0, 20), 10);
      expect(parseEchoReply(datagram)).to.equal(null);
    });

    it('never throws on random bytes, and accepts only valid replies', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
          const parsed = parseEchoReply(Buffer.from(bytes));
          if (parsed !== null) {
            expect(bytes.length).to.be.at.least(28);
          }
        }),
        { numRuns: 2000 },
      );
    });

    it('never throws on mutated valid replies', () => {
      fc.assert(
        fc.property(fc.nat({ max: 35 }), fc.nat({ max: 255 }), fc.nat({ max: 36 }), (offset, value, cut) => {
          const datagram = replyDatagram(1, 2);
          datagram.writeUInt8(value, offset);
          parseEchoReply(datagram.subarray(0, cut));
          parseEchoReply(datagram);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('parseIpv4 and buildIpv4Header', () => {
    it('parses dotted quads strictly', () => {
      expect(parseIpv4('198.18.0.1')).to.deep.equal(Buffer.from([198, 18, 0, 1]));
      for (const bad of ['198.18.0', '198.18.0.256', '198.18.0.01', '198.18.0.1/24', ' 1.2.3.4', 'a.b.c.d', '']) {
        expect(parseIpv4(bad), bad).to.equal(null);
      }
    });

    it('builds a header with a valid checksum', () => {
      const header = buildIpv4Header('198.18.0.1', '198.18.0.2');
      expect(header.length).to.equal(20);
      expect(header.readUInt8(9)).to.equal(1);
      expect(internetChecksum(header)).to.equal(0);
    });
  });
});
