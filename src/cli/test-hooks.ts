/**
 * TEST-ONLY hooks of `hotspare run`, each off unless its environment variable is set; the
 * fault campaign (scripts/soak) turns them on in the lab. Never set them on a real server.
 *
 * HOTSPARE_TEST_CLOCK_STEP=1: the agent's clock is a SteppedWallClock, and the control socket
 * answers `{"command": "test-clock-step MS"}` by stepping the agent's wall clock by MS
 * milliseconds (either sign), as an NTP step would step a real server's clock, without
 * stepping the whole machine the lab runs on. Monotonic time (every decision) is unchanged.
 */
import type { Clock } from '../../hal/clock/index.js';
import { SteppedWallClock } from '../../hal/clock/stepped.js';
import type { ControlHandler } from '../control/index.js';

export const TEST_CLOCK_STEP_ENV = 'HOTSPARE_TEST_CLOCK_STEP';
export const CLOCK_STEP_COMMAND = 'test-clock-step';

export function clockStepEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[TEST_CLOCK_STEP_ENV] === '1';
}

/** The clock the agent runs on: `clock` itself, or a steppable wrapper when the hook is on. */
export function testClock(clock: Clock, env: NodeJS.ProcessEnv = process.env): Clock {
  return clockStepEnabled(env) ? new SteppedWallClock(clock) : clock;
}

/**
 * The control handler, with `test-clock-step MS` answered before the catalog when `clock`
 * is steppable; every other request goes to `handler` unchanged.
 */
export function withTestHooks(
  handler: ControlHandler,
  clock: Clock,
  note: (message: string, fields: Record<string, number>) => void,
): ControlHandler {
  if (!(clock instanceof SteppedWallClock)) return handler;
  return async (request) => {
    const words = [...request.command.trim().split(/\s+/), ...(request.args ?? [])];
    if (words[0] !== CLOCK_STEP_COMMAND) return handler(request);
    const deltaMs = Number(words[1]);
    if (words.length !== 2 || !Number.isInteger(deltaMs))
      throw new Error(`${CLOCK_STEP_COMMAND} needs one argument: the step in whole milliseconds (either sign)`);
    const offsetMs = clock.step(deltaMs);
    note(`TEST HOOK: wall clock stepped by ${deltaMs} ms (offset now ${offsetMs} ms)`, { deltaMs, offsetMs });
    return { deltaMs, offsetMs, wallMs: clock.wallMs() };
  };
}
