import { expect } from 'chai';
import { CommandPacer, ShellSession } from '../../../src/shell/index.js';
import { FakeOperator, FakeStream, until } from './fixtures.js';

describe('shell command pacer', () => {
  it('hands out slots spacingMs apart, whoever asks', async () => {
    let now = 1000;
    const pacer = new CommandPacer(50, () => now);
    const started = Date.now();
    await pacer.slot(); // first: at once
    const second = pacer.slot(); // 50 ms later
    const third = pacer.slot(); // 100 ms later
    await second;
    const t2 = Date.now() - started;
    await third;
    const t3 = Date.now() - started;
    expect(t2).to.be.within(40, 90);
    expect(t3).to.be.within(90, 160);
    now = 5000; // long after: at once again
    const t = Date.now();
    await pacer.slot();
    expect(Date.now() - t).to.be.below(45); // well under one 50 ms slot, with room for a loaded machine
  });

  it('two sessions sharing a pacer together run no faster than its rate', async () => {
    const pacer = new CommandPacer(20);
    const operator = new FakeOperator();
    const streams = [new FakeStream(true), new FakeStream(true)];
    for (const stream of streams) {
      new ShellSession({
        operator,
        node: 'a',
        stream,
        transport: 'socket',
        passwordFile: null,
        log: () => undefined,
        pacer,
      }).start();
      stream.take();
    }
    const started = Date.now();
    for (const stream of streams) stream.type('status\rstatus\rstatus\rstatus\rstatus\r');
    await until(() => operator.calls.length === 10, 'ten status commands', 3000);
    // 10 commands, the first at once: at least 9 spacings of 20 ms.
    expect(Date.now() - started).to.be.at.least(170);
  });
});
