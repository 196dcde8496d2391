/**
 * The RMCP+ datagram transport on loopback: a send while the socket is still connecting (a
 * retransmission racing a re-open) is dropped like a lost datagram instead of throwing
 * Node's "Port should be > 0" error, which the fault campaign saw surface as a power-on
 * failure; once connected, datagrams reach the peer.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { UdpTransport } from '../../../hal/bmc/rmcp/transport.js';

describe('RMCP+ UDP transport', () => {
  let peer: Socket | null = null;
  let transport: UdpTransport | null = null;

  afterEach(() => {
    transport?.close();
    peer?.close();
    peer = null;
    transport = null;
  });

  it('drops a send made while connecting, without throwing, and delivers once connected', async () => {
    const p = createSocket({ type: 'udp4' });
    peer = p;
    const received: string[] = [];
    p.on('message', (m) => received.push(m.toString('utf8')));
    await new Promise<void>((resolve) => p.bind(0, '127.0.0.1', () => resolve()));
    const t = new UdpTransport('127.0.0.1', p.address().port);
    transport = t;
    const errors: Error[] = [];
    const opening = t.open({ message: () => undefined, error: (e) => errors.push(e) });
    expect(() => t.send(Buffer.from('early'))).not.to.throw();
    await opening;
    t.send(Buffer.from('late'));
    const start = Date.now();
    while (received.length === 0 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 5));
    expect(received).to.deep.equal(['late']);
    expect(errors).to.deep.equal([]);
  });

  it('a send after close is a no-op', () => {
    const t = new UdpTransport('127.0.0.1', 9);
    transport = t;
    t.close();
    expect(() => t.send(Buffer.from('x'))).not.to.throw();
  });
});
