import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinuxSerialPort } from '../../../hal/serial/linux.js';
import { isHotspareError } from '../../../hal/errors/index.js';
import { onPath, stopChild, waitFor } from '../../fixtures/processes.js';

const hasSocat = onPath('socat');

describeIfAvailable('hal/serial/linux LinuxSerialPort', hasSocat ? null : 'socat not installed', () => {
  let dir: string;
  let socat: ChildProcess | null = null;
  const opened: LinuxSerialPort[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hst-serial-'));
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    socat.stderr?.resume();
    await waitFor(() => existsSync(a) && existsSync(b), 5000, 'socat pty links');
  });

  afterEach(async () => {
    for (const port of opened.splice(0)) {
      await port.close();
    }
    if (socat !== null) {
      await stopChild(socat);
      socat = null;
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function openPair(): Promise<[LinuxSerialPort, LinuxSerialPort]> {
    const a = await LinuxSerialPort.open(join(dir, 'a'), 115200);
    opened.push(a);
    const b = await LinuxSerialPort.open(join(dir, 'b'), 115200);
    opened.push(b);
    return [a, b];
  }

  function collect(port: LinuxSerialPort): Buffer[] {
    const chunks: Buffer[] = [];
    port.onData((chunk) => chunks.push(Buffer.from(chunk)));
    return chunks;
  }

  it('carries bytes both ways, in order', async () => {
    const [a, b] = await openPair();
    expect(a.path).to.equal(join(dir, 'a'));
    const atB = collect(b);
    const atA = collect(a);
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
    a.write('hello, operator\r\n');
    a.write(binary);
    for (let i = 0; i < 50; i += 1) {
      a.write(`line ${i}\n`);
    }
    const expected = Buffer.concat([
      Buffer.from('hello, operator\r\n'),
      Buffer.from(binary),
      Buffer.from(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join('')),
    ]);
    await waitFor(() => Buffer.concat(atB).length >= expected.length, 5000, 'bytes at b');
    expect(Buffer.concat(atB).equals(expected)).to.equal(true);
    b.write('ack');
    await waitFor(() => Buffer.concat(atA).toString() === 'ack', 5000, 'ack at a');
  });

  it('drops writes after close, never throws, and close is idempotent', async () => {
    const [a, b] = await openPair();
    const atB = collect(b);
    await a.close();
    a.write('late');
    await Promise.all([a.close(), a.close()]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(Buffer.concat(atB).length).to.equal(0);
  });

  it('rejects opening a missing device, naming it', async () => {
    const path = join(dir, 'nope');
    try {
      await LinuxSerialPort.open(path, 9600);
      expect.fail('open should reject');
    } catch (error) {
      expect(isHotspareError(error)).to.equal(true);
      expect(String(error)).to.include(path);
    }
  });
});
