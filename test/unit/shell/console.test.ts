import { describeIfAvailable } from '../../fixtures/prerequisites.js';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinuxSerialPort } from '../../../hal/serial/linux.js';
import { SimSerialPort } from '../../../hal/serial/sim.js';
import { serialStream, serveConsole } from '../../../src/shell/index.js';
import { onPath, stopChild, waitFor } from '../../fixtures/processes.js';
import { FakeOperator, until } from './fixtures.js';

const deps = (operator: FakeOperator) => ({ operator, node: 'a', passwordFile: null, log: () => undefined });

describe('shell on the serial console', () => {
  it('starts with a prompt, runs commands typed on the port, prints transitions through the session', async () => {
    const port = new SimSerialPort();
    const operator = new FakeOperator();
    const session = serveConsole(port, 115200, deps(operator));
    expect(port.output()).to.equal(
      'hotspare maintenance shell on a (serial console); type help\r\nhotspare a monitor> ',
    );
    port.type('hist');
    session.notice('hotspare: a: monitor -> primary (epoch 4): fenced b');
    port.type('ory\r\n');
    await until(() => port.output().endsWith('hotspare a monitor> ') && port.output().includes('epoch 3'), 'history');
    expect(port.output()).to.contain(
      'hotspare a monitor> hist\r\nhotspare: a: monitor -> primary (epoch 4): fenced b\r\nhotspare a monitor> history\r\n2026-01-02T03:04:05.000Z',
    );
  });

  it('paces output at the line rate (10 bits a byte), so a slow console never queues without bound', async () => {
    let now = 0;
    const port = new SimSerialPort();
    const stream = serialStream(port, 115200, () => now);
    stream.write('x'.repeat(11_520)); // one second at 115200 baud
    now = 400;
    const started = Date.now();
    await stream.drained(); // 600 ms left
    expect(Date.now() - started).to.be.within(550, 900);
    now = 2000;
    const again = Date.now();
    await stream.drained();
    expect(Date.now() - again).to.be.below(300); // at once, not the 600 ms of a wait
  });

  describeIfAvailable(
    'through a real pty (LinuxSerialPort, socat)',
    onPath('socat') ? null : 'socat not installed',
    () => {
      let dir: string;
      let socat: ChildProcess | null = null;
      const ports: LinuxSerialPort[] = [];

      beforeEach(async () => {
        dir = await mkdtemp(join(tmpdir(), 'hst-console-'));
        socat = spawn(
          'socat',
          [`pty,raw,echo=0,link=${join(dir, 'agent')}`, `pty,raw,echo=0,link=${join(dir, 'operator')}`],
          { stdio: 'ignore' },
        );
        await waitFor(() => existsSync(join(dir, 'agent')) && existsSync(join(dir, 'operator')), 5000, 'socat ptys');
      });

      afterEach(async () => {
        for (const port of ports.splice(0)) await port.close();
        if (socat !== null) await stopChild(socat);
        socat = null;
        await rm(dir, { recursive: true, force: true });
      });

      it('a dumb terminal on the other end: CR line ends, backspace, binary garbage, Ctrl-C', async () => {
        const agentEnd = await LinuxSerialPort.open(join(dir, 'agent'), 115200);
        ports.push(agentEnd);
        const terminal = await LinuxSerialPort.open(join(dir, 'operator'), 115200);
        ports.push(terminal);
        let screen = '';
        terminal.onData((chunk) => (screen += Buffer.from(chunk).toString('latin1')));
        serveConsole(agentEnd, 115200, deps(new FakeOperator()));
        await until(() => screen.endsWith('hotspare a monitor> '), 'greeting', 5000);
        // Raw bytes: 0xff alone is not UTF-8 (as a string it would be encoded as the letter ÿ).
        terminal.write(Buffer.from('statz\x7fus\x00\xff\r', 'latin1'));
        await until(
          () => screen.includes('role      monitor') && screen.endsWith('hotspare a monitor> '),
          'status',
          5000,
        );
        expect(screen).to.contain('statz\b \bus\r\n');
        terminal.write('fence b\r\x03');
        await until(() => screen.includes('cancelled; nothing done'), 'cancel', 5000);
      });
    },
  );
});
