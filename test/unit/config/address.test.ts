import { expect } from 'chai';
import { parseIpv4Cidr } from '../../../src/config/address.js';

describe('config addresses (IPv4 with prefix)', () => {
  const problem = (text: string): string => {
    const parsed = parseIpv4Cidr(text);
    expect(parsed, text).to.be.a('string');
    return parsed as string;
  };

  it('accepts ordinary host addresses and reads them as numbers', () => {
    expect(parseIpv4Cidr('198.18.0.10/24')).to.deep.equal({ address: '198.18.0.10', prefix: 24, value: 0xc612000a });
    expect(parseIpv4Cidr('10.0.0.1/8')).to.include({ address: '10.0.0.1', prefix: 8 });
    expect(parseIpv4Cidr('198.18.0.0/31')).to.include({ prefix: 31 });
    expect(parseIpv4Cidr('198.18.0.255/32')).to.include({ prefix: 32 });
  });

  it('refuses leading zeros (octal or decimal?) and names the canonical spelling', () => {
    expect(problem('198.018.0.10/24')).to.contain('leading zero in "018"').and.contain('write "198.18.0.10/24"');
    expect(problem('198.18.0.010/24')).to.contain('leading zero in "010"');
    expect(problem('198.18.0.10/024')).to.contain('leading zero in "024"');
  });

  const special: Array<[string, string]> = [
    ['0.0.0.0/0', 'prefix /0'],
    ['198.18.0.10/0', 'prefix /0'],
    ['0.0.0.0/8', '0.0.0.0/8'],
    ['0.1.2.3/24', '0.0.0.0/8'],
    ['127.0.0.1/8', 'loopback'],
    ['224.0.0.18/24', 'multicast'],
    ['239.255.255.1/24', 'multicast'],
    ['255.255.255.255/32', 'limited broadcast'],
    ['250.1.1.1/24', 'reserved'],
    ['198.18.0.0/24', 'network address of its /24 subnet'],
    ['198.18.0.255/24', 'broadcast address of its /24 subnet'],
    ['198.18.0.10/33', 'prefix length must be 1-32'],
    ['198.18.0.256/24', '0-255'],
    ['198.18.0.10', 'with prefix length'],
  ];
  for (const [text, why] of special) {
    it(`refuses ${text}, saying why`, () => expect(problem(text)).to.contain(why));
  }
});
