/**
 * hal/bmc/rmcp.ts and rmcp/session.ts against a fake BMC behind the transport interface (no
 * sockets): session reuse, garbage and foreign datagrams, a BMC that forgets the session or
 * stops answering, auth failures, keepalive, close. The real BMC is in test/lab/bmc-rmcp.test.ts.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemorySessionJournal, RmcpBmc, RmcpBmcFactory } from '../../../hal/bmc/rmcp.js';
import type { RmcpBmcOptions } from '../../../hal/bmc/rmcp.js';
import { cipherSuite, deriveKeys } from '../../../hal/bmc/rmcp/cipher-suite.js';
import type { CipherSuite } from '../../../hal/bmc/rmcp/cipher-suite.js';
import { kuidOf, rakp2Code, rakp3Code, rakp4Code } from '../../../hal/bmc/rmcp/handshake.js';
import type { Exchange } from '../../../hal/bmc/rmcp/handshake.js';
import { decodeIpmiRequest, encodeIpmiResponse } from '../../../hal/bmc/rmcp/ipmi-message.js';
import {
  PayloadType,
  decodeSessionHeader,
  encodeSessionPacket,
  openSessionPacket,
} from '../../../hal/bmc/rmcp/packet.js';
import type { SessionSecurity } from '../../../hal/bmc/rmcp/packet.js';
import type { DatagramHandlers, DatagramTransport } from '../../../hal/bmc/rmcp/transport.js';
import { BmcError, isBmcError } from '../../../hal/errors/bmc-error.js';

const SECRET = 'Sup3r-Secret-Pw';
const GUID = Buffer.alloc(16, 0x5a);

interface FakeSession {
  consoleSessionId: number;
  security: SessionSecurity;
  outbound: number;
}

/** A BMC that speaks enough RMCP+ (suites 3 and 17) for the driver, with test controls. */
class FakeBmc implements DatagramTransport {
  power: 'on' | 'off' = 'on';
  /** Drop every datagram. */
  silent = false;
  /** Send this many undecodable datagrams before each answer. */
  garbageFirst = 0;
  /** Answer session messages with garbage only. */
  onlyGarbage = false;
  /** Also send an answer in another session id and a replay before each real answer. */
  foreignFirst = false;
  /** Completion code for chassis commands. */
  completionCode = 0;
  socketError: string | null = null;
  readonly commands: string[] = [];
  sessionsOpened = 0;
  private handlers: DatagramHandlers | null = null;
  private readonly sessions = new Map<number, FakeSession>();
  private readonly pending = new Map<number, Exchange>();

  constructor(
    private readonly password = SECRET,
    private readonly user = 'admin',
  ) {}

  async open(handlers: DatagramHandlers): Promise<void> {
    this.handlers = handlers;
  }

  close(): void {
    this.handlers = null;
  }

  /** Session IDs the BMC holds open now. */
  get openIds(): number[] {
    return [...this.sessions.keys()];
  }

  /** The BMC restarted or timed the session out: it ignores the old session from now on. */
  forget(): void {
    this.sessions.clear();
  }

  send(datagram: Buffer): void {
    setImmediate(() => this.receive(datagram));
  }

  private reply(datagram: Buffer): void {
    this.handlers?.message(datagram);
  }

  private receive(datagram: Buffer): void {
    if (this.socketError !== null) {
      this.handlers?.error(Object.assign(new Error('send failed'), { code: this.socketError }));
      return;
    }
    if (this.silent) return;
    const raw = decodeSessionHeader(datagram);
    const pre = (payloadType: number, payload: Buffer): void =>
      this.reply(encodeSessionPacket({ payloadType, sessionId: 0, sequence: 0, payload }));
    switch (raw.payloadType) {
      case PayloadType.openSessionRequest: {
        const p = raw.payload;
        const suite = [3, 17].map((id) => cipherSuite(id)).find((s) => s.authAlgorithm === p[12]) as CipherSuite;
        const bmcSessionId = (randomBytes(4).readUInt32LE(0) | 1) >>> 0;
        const consoleSessionId = p.readUInt32LE(4);
        this.pending.set(bmcSessionId, {
          suite,
          kuid: kuidOf(Buffer.from(this.password)),
          consoleSessionId,
          bmcSessionId,
          consoleRandom: Buffer.alloc(0),
          bmcRandom: randomBytes(16),
          bmcGuid: GUID,
          role: 0,
          username: Buffer.alloc(0),
        });
        const out = Buffer.alloc(36);
        out[0] = p[0] ?? 0;
        out[2] = 4;
        out.writeUInt32LE(consoleSessionId, 4);
        out.writeUInt32LE(bmcSessionId, 8);
        p.copy(out, 12, 8, 32);
        pre(PayloadType.openSessionResponse, out);
        return;
      }
      case PayloadType.rakp1: {
        const p = raw.payload;
        const x = this.pending.get(p.readUInt32LE(4));
        if (x === undefined) return;
        x.consoleRandom = Buffer.from(p.subarray(8, 24));
        x.role = p[24] ?? 0;
        x.username = Buffer.from(p.subarray(28, 28 + (p[27] ?? 0)));
        const head = Buffer.alloc(8);
        head[0] = p[0] ?? 0;
        head.writeUInt32LE(x.consoleSessionId, 4);
        if (x.username.toString() !== this.user) {
          head[1] = 0x0d;
          pre(PayloadType.rakp2, head);
          return;
        }
        pre(PayloadType.rakp2, Buffer.concat([head, x.bmcRandom, x.bmcGuid, rakp2Code(x)]));
        return;
      }
      case PayloadType.rakp3: {
        const p = raw.payload;
        const x = this.pending.get(p.readUInt32LE(4));
        if (x === undefined || p[1] !== 0) return;
        this.pending.delete(x.bmcSessionId);
        const head = Buffer.alloc(8);
        head[0] = p[0] ?? 0;
        head.writeUInt32LE(x.consoleSessionId, 4);
        if (!rakp3Code(x).equals(p.subarray(8))) {
          head[1] = 0x0f;
          pre(PayloadType.rakp4, head);
          return;
        }
        const keys = deriveKeys(x.suite, x.kuid, x.consoleRandom, x.bmcRandom, x.role, x.username);
        this.sessions.set(x.bmcSessionId, {
          consoleSessionId: x.consoleSessionId,
          security: { suite: x.suite, k1: keys.k1, k2: keys.k2 },
          outbound: 0,
        });
        this.sessionsOpened += 1;
        pre(PayloadType.rakp4, Buffer.concat([head, rakp4Code(x, keys.sik)]));
        return;
      }
      case PayloadType.ipmi: {
        const session = this.sessions.get(raw.sessionId);
        if (session === undefined) return;
        const request = decodeIpmiRequest(openSessionPacket(raw, session.security).payload);
        const name = `${request.netFn}/${request.cmd}${request.data.length > 0 ? `:${request.data.toString('hex')}` : ''}`;
        this.commands.push(name);
        let completionCode = 0;
        let data = Buffer.alloc(0);
        if (request.netFn === 0 && request.cmd === 1) {
          completionCode = this.completionCode;
          data = Buffer.from([this.power === 'on' ? 1 : 0, 0, 0]);
        } else if (request.netFn === 0 && request.cmd === 2) {
          completionCode = this.completionCode;
          if (completionCode === 0) this.power = request.data[0] === 0 ? 'off' : 'on';
        } else if (request.netFn === 6 && request.cmd === 0x3b) {
          data = Buffer.from([request.data[0] ?? 0]);
        } else if (request.netFn === 6 && request.cmd === 0x3c) {
          // Like ipmi_sim: 0x87 for a session it does not know (any administrator may close any).
          if (!this.sessions.delete(request.data.readUInt32LE(0))) completionCode = 0x87;
        } else if (!(request.netFn === 6 && request.cmd === 1)) {
          completionCode = 0xc1;
        }
        const answer = encodeIpmiResponse({
          netFn: request.netFn,
          cmd: request.cmd,
          rqSeq: request.rqSeq,
          completionCode,
          data,
        });
        const packet = (sessionId: number, sequence: number): Buffer =>
          encodeSessionPacket({ payloadType: 0, sessionId, sequence, payload: answer }, session.security);
        for (let i = 0; i < this.garbageFirst; i += 1)
          this.reply(Buffer.concat([packet(session.consoleSessionId, 999).subarray(0, 30), Buffer.from('junk')]));
        if (this.onlyGarbage) {
          const bad = packet(session.consoleSessionId, 999);
          bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
          this.reply(bad);
          return;
        }
        session.outbound += 1;
        const good = packet(session.consoleSessionId, session.outbound);
        if (this.foreignFirst) {
          this.reply(packet(session.consoleSessionId ^ 1, session.outbound));
          if (session.outbound > 1) this.reply(packet(session.consoleSessionId, session.outbound - 1));
        }
        this.reply(good);
      }
    }
  }
}

describe('hal/bmc/rmcp RmcpBmc (fake BMC, no sockets)', () => {
  let dir = '';
  let options: RmcpBmcOptions;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hs-rmcp-test-'));
    const passwordFile = join(dir, 'bmc.pass');
    await writeFile(passwordFile, `${SECRET}\n`, { mode: 0o600 });
    options = {
      member: 'b',
      host: '198.18.1.12',
      port: 623,
      username: 'admin',
      passwordFile,
      cipherSuite: 3,
      timeoutMs: 300,
      retries: 1,
      keepaliveMs: 0,
    };
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function rejection(promise: Promise<unknown>): Promise<BmcError> {
    try {
      await promise;
    } catch (error) {
      if (isBmcError(error)) return error;
      throw error;
    }
    throw new Error('expected a rejection');
  }

  for (const suite of [3, 17]) {
    it(`suite ${suite}: one session for status, off, on, cycle; privilege raised to administrator once`, async () => {
      const fake = new FakeBmc();
      const bmc = new RmcpBmc({ ...options, cipherSuite: suite }, { transport: fake });
      expect(await bmc.status()).to.equal('on');
      await bmc.off();
      expect(fake.power).to.equal('off');
      expect(await bmc.status()).to.equal('off');
      await bmc.on();
      await bmc.cycle();
      expect(fake.power).to.equal('on');
      expect(bmc.stats.opens).to.equal(1);
      expect(fake.sessionsOpened).to.equal(1);
      expect(fake.commands).to.deep.equal(['6/59:04', '0/1', '0/2:00', '0/1', '0/2:01', '0/2:02']);
    });
  }

  it('an unsupported cipher suite is refused, naming it', () => {
    expect(() => new RmcpBmc({ ...options, cipherSuite: 1 }, { transport: new FakeBmc() })).to.throw(
      BmcError,
      /suite 1 is not supported/,
    );
  });

  it('a wrong password is auth at once, and neither password appears in the error', async () => {
    const fake = new FakeBmc('the-real-one');
    const error = await rejection(new RmcpBmc(options, { transport: fake }).status());
    expect(error.kind).to.equal('auth');
    expect(error.message).to.match(/RAKP 2 HMAC is invalid/);
    for (const text of [error.message, JSON.stringify(error.context), String(error.stack)]) {
      expect(text).to.not.contain(SECRET).and.to.not.contain('the-real-one');
    }
  });

  it('an unknown user is auth; a missing password file is auth naming only the path', async () => {
    expect(
      (await rejection(new RmcpBmc({ ...options, username: 'mallory' }, { transport: new FakeBmc() }).status())).kind,
    ).to.equal('auth');
    const error = await rejection(
      new RmcpBmc({ ...options, passwordFile: join(dir, 'missing') }, { transport: new FakeBmc() }).status(),
    );
    expect(error.kind).to.equal('auth');
    expect(error.message).to.contain('missing').and.to.contain('ENOENT');
  });

  it('a password file without a trailing newline works too', async () => {
    await writeFile(options.passwordFile, SECRET);
    expect(await new RmcpBmc(options, { transport: new FakeBmc() }).status()).to.equal('on');
  });

  it('garbage, foreign-session and replayed datagrams are dropped; the real answer is taken', async () => {
    const fake = new FakeBmc();
    const bmc = new RmcpBmc(options, { transport: fake });
    await bmc.warm();
    fake.garbageFirst = 2;
    fake.foreignFirst = true;
    expect(await bmc.status()).to.equal('on');
    await bmc.off();
    expect(fake.power).to.equal('off');
    expect(bmc.stats.dropped).to.be.greaterThanOrEqual(7);
    expect(bmc.stats.opens).to.equal(1);
  });

  it('only undecodable answers: garbage, within timeoutMs', async () => {
    const fake = new FakeBmc();
    const bmc = new RmcpBmc(options, { transport: fake });
    await bmc.warm();
    fake.onlyGarbage = true;
    const started = Date.now();
    const error = await rejection(bmc.status());
    expect(error.kind).to.equal('garbage');
    expect(error.message).to.match(/AuthCode/);
    // The budget is 300 ms for all attempts together; the bound leaves room for a loaded machine.
    expect(Date.now() - started).to.be.lessThan(1500);
  });

  it('a silent BMC is timeout within timeoutMs', async () => {
    const fake = new FakeBmc();
    fake.silent = true;
    const started = Date.now();
    const error = await rejection(new RmcpBmc(options, { transport: fake }).off());
    expect(error.kind).to.equal('timeout');
    // 300 ms budget for all attempts together; the upper bound leaves room for a loaded machine.
    expect(Date.now() - started).to.be.within(250, 1500);
  });

  it('a wall clock stepped back while a call waits does not stretch its timeout', async () => {
    const fake = new FakeBmc();
    fake.silent = true;
    // The wall clock (Date.now) jumps 5 s back the moment the session opens its socket, after
    // the call took its deadline; monotonic time (performance.now, Node timers) runs on.
    const realNow = Date.now.bind(Date);
    let stepMs = 0;
    const stepping: DatagramTransport = {
      open: (handlers) => {
        stepMs = -5000;
        return fake.open(handlers);
      },
      send: (datagram) => fake.send(datagram),
      close: () => fake.close(),
    };
    Date.now = () => realNow() + stepMs;
    const started = performance.now();
    try {
      const error = await rejection(new RmcpBmc({ ...options, retries: 0 }, { transport: stepping }).off());
      expect(error.kind).to.equal('timeout');
    } finally {
      Date.now = realNow;
    }
    expect(stepMs).to.equal(-5000);
    // 300 ms budget; a deadline on the wall clock would wait 5 s more.
    expect(performance.now() - started).to.be.within(250, 1500);
  });

  it('a socket error is unreachable', async () => {
    const fake = new FakeBmc();
    fake.socketError = 'ECONNREFUSED';
    const error = await rejection(new RmcpBmc(options, { transport: fake }).status());
    expect(error.kind).to.equal('unreachable');
    expect(error.message).to.contain('ECONNREFUSED');
  });

  it('a BMC that forgot the session: the next attempt opens a new one, the call succeeds', async () => {
    const fake = new FakeBmc();
    const bmc = new RmcpBmc(options, { transport: fake });
    expect(await bmc.status()).to.equal('on');
    fake.forget();
    await bmc.off();
    expect(fake.power).to.equal('off');
    expect(bmc.stats.opens).to.equal(2);
  });

  it('a completion code is refused with its meaning', async () => {
    const fake = new FakeBmc();
    fake.completionCode = 0xd4;
    const error = await rejection(new RmcpBmc(options, { transport: fake }).off());
    expect(error.kind).to.equal('refused');
    expect(error.message).to.contain('insufficient privilege level (0xd4)');
  });

  it('keepalive: Get Device ID while idle; a forgotten session is reopened in the background', async () => {
    const fake = new FakeBmc();
    const bmc = new RmcpBmc({ ...options, keepaliveMs: 40 }, { transport: fake });
    try {
      await bmc.warm();
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(fake.commands.filter((c) => c === '6/1').length).to.be.greaterThan(0);
      fake.forget();
      // The next keepalive times out (300 ms), drops the session, and the one after opens a new one.
      const deadline = Date.now() + 2000;
      while (fake.sessionsOpened < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(fake.sessionsOpened).to.equal(2);
    } finally {
      await bmc.close();
    }
  });

  it('close sends Close Session; the next operation opens a new session', async () => {
    const fake = new FakeBmc();
    const bmc = new RmcpBmc(options, { transport: fake });
    await bmc.warm();
    await bmc.close();
    expect(fake.commands.at(-1)).to.match(/^6\/60:/);
    expect(bmc.warmNow).to.equal(false);
    expect(await bmc.status()).to.equal('on');
    expect(bmc.stats.opens).to.equal(2);
  });

  it('the factory keeps one driver per member and refuses unknown members', async () => {
    const factory = new RmcpBmcFactory([{ ...options, member: 'a' }, options]);
    expect(factory.open('b')).to.equal(factory.open('b'));
    expect(factory.open('a')).to.not.equal(factory.open('b'));
    expect(() => factory.open('z')).to.throw(BmcError, /no BMC configured/);
  });
  it('the journal notes each session opened and closed (dropped ones too)', async () => {
    const fake = new FakeBmc();
    const journal = new MemorySessionJournal();
    const bmc = new RmcpBmc(options, { transport: fake, journal });
    await bmc.warm();
    expect(journal.open.map((r) => r.bmcSessionId)).to.deep.equal(fake.openIds);
    expect(journal.open[0]).to.include({ member: 'b', host: '198.18.1.12', port: 623 });
    fake.forget();
    await bmc.status(); // first attempt times out, the session is dropped and a new one opened
    expect(journal.open.map((r) => r.bmcSessionId)).to.deep.equal(fake.openIds);
    await bmc.close();
    expect(journal.open).to.deep.equal([]);
  });

  it('reclaim: a new run closes through a fresh session what a killed run left open', async () => {
    const fake = new FakeBmc();
    const other = new FakeBmc();
    // Three runs "killed" (never closed): three sessions held on the BMC, noted in the journal.
    const previous = new MemorySessionJournal();
    for (let i = 0; i < 3; i += 1) await new RmcpBmc(options, { transport: fake, journal: previous }).warm();
    expect(fake.openIds).to.have.length(3);
    // One the BMC already timed out, one on a BMC no member has any more.
    const leftovers = [
      ...previous.open,
      { member: 'b', host: '198.18.1.12', port: 623, bmcSessionId: 0x1234 },
      { member: 'old', host: '198.18.9.9', port: 623, bmcSessionId: 0x99 },
    ];
    const journal = new MemorySessionJournal(leftovers);
    const factory = new RmcpBmcFactory([options, { ...options, member: 'a', host: '198.18.1.11' }], {
      journal,
      transportFor: (o) => (o.member === 'b' ? fake : other),
    });
    const report = await factory.reclaim();
    expect(report.outcomes.map((o) => o.outcome)).to.deep.equal(['closed', 'closed', 'closed', 'gone']);
    expect(report.forgotten.map((r) => r.member)).to.deep.equal(['old']);
    expect(report.failures.size).to.equal(0);
    // Close Session named each leftover, in a session of its own that stays open (the warm one).
    const closes = fake.commands.filter((c) => c.startsWith('6/60:'));
    expect(closes).to.have.length(4);
    expect(fake.openIds).to.have.length(1);
    expect(journal.leftovers()).to.deep.equal([]);
    expect(journal.open.map((r) => r.bmcSessionId)).to.deep.equal(fake.openIds);
    expect(other.commands).to.deep.equal([]);
  });

  it('reclaim with the BMC silent: rejected for that member, the leftovers stay for the next run', async () => {
    const fake = new FakeBmc();
    fake.silent = true;
    const leftover = { member: 'b', host: '198.18.1.12', port: 623, bmcSessionId: 0x4321 };
    const journal = new MemorySessionJournal([leftover]);
    const report = await new RmcpBmcFactory([options], { journal, transportFor: () => fake }).reclaim();
    expect(report.failures.get('b')?.kind).to.equal('timeout');
    expect(journal.leftovers()).to.deep.equal([leftover]);
  });
});
