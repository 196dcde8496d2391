/**
 * The test-only clock step hook (src/cli/test-hooks.ts): off unless HOTSPARE_TEST_CLOCK_STEP=1;
 * when on, `test-clock-step MS` steps the wall clock only, and every other request goes to
 * the catalog's handler unchanged.
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import { SteppedWallClock } from '../../../hal/clock/stepped.js';
import { clockStepEnabled, testClock, withTestHooks } from '../../../src/cli/test-hooks.js';
import type { ControlRequest } from '../../../src/control/protocol.js';

describe('test hooks: clock step', () => {
  const passThrough = (request: ControlRequest): Promise<unknown> => Promise.resolve({ handled: request.command });

  it('is off by default: the clock is the real one and the command goes to the catalog', async () => {
    const clock = new VirtualClock();
    expect(clockStepEnabled({})).to.equal(false);
    expect(clockStepEnabled({ HOTSPARE_TEST_CLOCK_STEP: 'yes' })).to.equal(false);
    expect(testClock(clock, {})).to.equal(clock);
    const handler = withTestHooks(passThrough, clock, () => undefined);
    expect(await handler({ command: 'test-clock-step 1000' })).to.deep.equal({ handled: 'test-clock-step 1000' });
  });

  it('when on, steps the wall clock by the given ms (either sign), never the monotonic clock', async () => {
    const inner = new VirtualClock();
    const clock = testClock(inner, { HOTSPARE_TEST_CLOCK_STEP: '1' });
    expect(clock).to.be.instanceOf(SteppedWallClock);
    const notes: string[] = [];
    const handler = withTestHooks(passThrough, clock, (text) => notes.push(text));
    const wall = clock.wallMs();
    const mono = clock.nowUs();
    expect(await handler({ command: 'test-clock-step', args: ['3600000'] })).to.include({
      deltaMs: 3600000,
      offsetMs: 3600000,
    });
    expect(await handler({ command: 'test-clock-step -5000' })).to.include({ offsetMs: 3595000 });
    expect(clock.wallMs() - wall).to.equal(3595000);
    expect(clock.nowUs()).to.equal(mono);
    expect(notes).to.have.length(2);
    expect(await handler({ command: 'status' })).to.deep.equal({ handled: 'status' });
    await handler({ command: 'test-clock-step soon' }).then(
      () => expect.fail('a step that is not a number must be refused'),
      (error: Error) => expect(error.message).to.contain('whole milliseconds'),
    );
  });
});
