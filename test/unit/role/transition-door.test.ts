import { expect } from 'chai';
import { step } from '../../../src/role/index.js';
import type { Action, Phase } from '../../../src/role/index.js';
import { bootTo, MS, monitoring, Run } from './fixtures.js';

type TransitionAction = Extract<Action, { type: 'transition' }>;

/** Feeds `event` and asserts that a phase change, if any, came with its transition action. */
function feedThroughDoor(run: Run, event: Parameters<Run['feed']>[0]): void {
  const from: Phase = run.state.phase;
  run.feed(event);
  const moves = run.last.filter((a): a is TransitionAction => a.type === 'transition');
  if (run.state.phase === from) return;
  expect(moves.at(-1), `${from} -> ${run.state.phase} without a transition`).to.include({ to: run.state.phase });
}

describe('role machine: the one door for phase changes (issue 10)', () => {
  it('maintenance on while confirming goes back to monitor through a recorded transition', () => {
    const run = monitoring();
    feedThroughDoor(run, { type: 'command', nowUs: 200 * MS, command: 'promote' });
    feedThroughDoor(run, { type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'ok' });
    expect(run.state.phase).to.equal('confirming');
    feedThroughDoor(run, { type: 'command', nowUs: 310 * MS, command: 'maintenance-on' });
    expect(run.state.phase).to.equal('monitor');
    expect(run.state.maintenance).to.equal(true);
    expect(run.find('transition')).to.deep.include({ from: 'confirming', to: 'monitor' });
    expect(run.find('transition')?.routine).to.equal(undefined);
  });

  it("a spare's periodic check and its return are routine transitions", () => {
    const run = bootTo('spare');
    expect(run.state.phase).to.equal('spare');
    const at = run.timer('spare-check') ?? 0;
    feedThroughDoor(run, { type: 'timer', nowUs: at, timer: 'spare-check' });
    expect(run.find('transition')).to.deep.include({ from: 'spare', to: 'spare-checking', routine: true });
    feedThroughDoor(run, {
      type: 'check-result',
      id: run.state.checkSeq,
      nowUs: at + 60 * MS,
      startedUs: at,
      address: 'monitor',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0c'],
    });
    expect(run.find('transition')).to.deep.include({ from: 'spare-checking', to: 'spare', routine: true });
    expect(run.types()).to.not.include('hook');
  });

  it('maintenance off during a spare check returns to spare through the door', () => {
    const run = bootTo('spare');
    feedThroughDoor(run, { type: 'timer', nowUs: run.timer('spare-check') ?? 0, timer: 'spare-check' });
    expect(run.state.phase).to.equal('spare-checking');
    feedThroughDoor(run, { type: 'command', nowUs: 2000 * MS, command: 'maintenance-on' });
    feedThroughDoor(run, { type: 'command', nowUs: 2100 * MS, command: 'maintenance-off' });
    expect(run.state.phase).to.equal('spare');
    expect(run.find('transition')).to.deep.include({ from: 'spare-checking', to: 'spare', routine: true });
    expect(run.find('set-timer')).to.include({ timer: 'spare-check' });
  });

  it('a refused command is an outcome of step(), with the state unchanged', () => {
    const run = monitoring();
    const result = step(run.config, run.state, { type: 'command', nowUs: 200 * MS, command: 'demote' });
    expect(result.refused).to.equal('demote: only a primary can be demoted; this server is monitor');
    expect(result.state).to.equal(run.state);
    expect(result.actions).to.deep.equal([
      { type: 'log', level: 'warn', event: 'command-refused', message: result.refused },
    ]);
    const accepted = step(run.config, run.state, { type: 'command', nowUs: 200 * MS, command: 'promote' });
    expect(accepted.refused).to.equal(undefined);
    const again = step(run.config, accepted.state, { type: 'command', nowUs: 210 * MS, command: 'promote' });
    expect(again.refused).to.equal('promote: a fence is already in progress');
  });
});
