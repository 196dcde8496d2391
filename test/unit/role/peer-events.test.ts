import { expect } from 'chai';
import { initialState, step } from '../../../src/role/index.js';
import type { Action, Event, MachineConfig, Phase } from '../../../src/role/index.js';
import type { PersistedRole } from '../../../hal/store/index.js';
import { becameMonitor, bootTo, machine, miss, monitoring, MS, Run } from './fixtures.js';

/** The dead-monitor rule: a primary fences the server of a monitor whose agent went silent. */

/** The peer settings of these tests: `paths` per member, fresh 250 ms, deferral 1 s. */
function peerPaths(paths: NonNullable<MachineConfig['peer']>['paths']): MachineConfig['peer'] {
  return { paths, freshUs: 250 * MS, deferUs: 1000 * MS };
}

function peerConfig(): MachineConfig {
  return machine({
    self: 'a',
    selfMac: '02:00:00:00:00:0a',
    peer: peerPaths({ b: ['lan', 'mgmt'], c: ['lan'] }),
  });
}

function primary(): Run {
  const run = bootTo('primary', peerConfig());
  // Every other member heard, none holding the primary address: the boot claim may go ahead.
  run.feed(heard('b', 'lan', 120 * MS)).feed(heard('c', 'lan', 121 * MS, false));
  run.feed({
    type: 'check-result',
    nowUs: 150 * MS,
    startedUs: 140 * MS,
    address: 'primary',
    taken: false,
    evidence: [],
  });
  expect(run.state.phase).to.equal('primary');
  return run;
}

/** A primary that heard the monitor b on both paths, then lost it on both at 2 s. */
function monitorSilent(): Run {
  const run = primary();
  run.feed(heard('b', 'lan', 200 * MS)).feed(heard('b', 'mgmt', 201 * MS));
  run.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'b', path: 'lan' });
  run.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'b', path: 'mgmt' });
  return run;
}

function heard(
  node: string,
  path: 'lan' | 'mgmt',
  nowUs: number,
  holdsMonitor = true,
): Extract<Event, { type: 'peer' }> {
  return {
    type: 'peer',
    nowUs,
    node,
    path,
    phase: holdsMonitor ? 'monitor' : 'spare',
    role: holdsMonitor ? 'monitor' : 'spare',
    epoch: 4,
    holdsPrimary: false,
    holdsMonitor,
  };
}

/** The reason of the machine's latest transition. */
function lastReason(run: Run): string {
  const t = run.actions.filter((a) => a.type === 'transition').at(-1);
  return t?.type === 'transition' ? t.reason : '';
}

const fences = (actions: Action[]): string[] =>
  actions.filter((a) => a.type === 'fence').map((a) => (a.type === 'fence' ? a.target : ''));

describe('role machine: a dead monitor agent (peer heartbeats)', () => {
  it('silent on every path while its address still answers from its MAC: the primary fences its server, then powers it on', () => {
    const run = primary();
    run.feed(heard('b', 'lan', 200 * MS)).feed(heard('b', 'mgmt', 201 * MS));
    run.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'b', path: 'lan' });
    expect(run.timer('dead-monitor')).to.equal(undefined); // still heard on mgmt
    run.feed({ type: 'peer-silent', nowUs: 2100 * MS, node: 'b', path: 'mgmt' });
    const at = run.timer('dead-monitor') ?? 0;
    // Longer than the monitor's own detection + fence timeout + confirmation.
    expect(at - 2100 * MS).to.be.above(20_000 * MS + 10 * MS);
    run.feed({ type: 'timer', nowUs: at, timer: 'dead-monitor' });
    expect(run.find('check')).to.include({ address: 'monitor' });
    run.feed({
      type: 'check-result',
      nowUs: at + 50 * MS,
      startedUs: at,
      address: 'monitor',
      taken: true,
      evidence: ['icmp-reply', 'arp-reply 02:00:00:00:00:0b'],
    });
    expect(fences(run.last)).to.deep.equal(['b']);
    expect(run.state.phase).to.equal('primary');
    run.feed({ type: 'fence-result', nowUs: at + 100 * MS, target: 'b', ok: true, detail: 'off' });
    expect(run.last).to.deep.include({ type: 'power-on', target: 'b' });
    // Never a claim of anything: the primary stays primary and holds what it held.
    expect(run.actions.some((a) => a.type === 'assign' && a.address === 'monitor')).to.equal(false);
  });

  it('heard again before the wait ends: no fence', () => {
    const run = monitorSilent();
    run.feed(heard('b', 'mgmt', 5000 * MS));
    expect(run.last).to.deep.include({ type: 'cancel-timer', timer: 'dead-monitor' });
    run.feed({ type: 'timer', nowUs: 30_000 * MS, timer: 'dead-monitor' });
    expect(run.actions.some((a) => a.type === 'fence' || (a.type === 'check' && a.address === 'monitor'))).to.equal(
      false,
    );
  });

  it('the monitor address silent or held by another member: nobody is fenced (a spare takes care of it)', () => {
    for (const evidence of [[], ['arp-reply 02:00:00:00:00:0c']]) {
      const run = monitorSilent();
      const at = run.timer('dead-monitor') ?? 0;
      run.feed({ type: 'timer', nowUs: at, timer: 'dead-monitor' });
      run.feed({
        type: 'check-result',
        nowUs: at + 50 * MS,
        startedUs: at,
        address: 'monitor',
        taken: evidence.length > 0,
        evidence,
      });
      expect(fences(run.actions)).to.deep.equal([]);
    }
  });

  it('nobody answers on the monitor address: checked again each second for 2 s, and one answer from its MAC still fences (a lost ARP reply on a loaded machine, CI at d0e14fb)', () => {
    const silentThenAnswered = (checks: number, answerAt: number | null): Run => {
      const run = monitorSilent();
      let at = run.timer('dead-monitor') ?? 0;
      for (let check = 1; check <= checks; check++) {
        run.feed({ type: 'timer', nowUs: at, timer: 'dead-monitor' });
        expect(run.find('check'), `check ${check}`).to.include({ address: 'monitor' });
        const answered = check === answerAt;
        run.feed({
          type: 'check-result',
          nowUs: at + 50 * MS,
          startedUs: at,
          address: 'monitor',
          taken: answered,
          evidence: answered ? ['arp-reply 02:00:00:00:00:0b'] : [],
        });
        at = run.timer('dead-monitor') ?? at;
      }
      return run;
    };
    const second = silentThenAnswered(2, 2);
    expect(fences(second.actions)).to.deep.equal(['b']);
    expect(second.actions.filter((a) => a.type === 'log' && a.event === 'monitor-check-silent')).to.have.length(1);
    const third = silentThenAnswered(3, 3);
    expect(fences(third.actions)).to.deep.equal(['b']);
    // The third silent check ends more than 2 s after the wait: the monitor is taken for off.
    const never = silentThenAnswered(3, null);
    expect(fences(never.actions)).to.deep.equal([]);
    expect(never.actions.some((a) => a.type === 'log' && a.event === 'monitor-gone')).to.equal(true);
    never.feed({ type: 'timer', nowUs: 40_000 * MS, timer: 'dead-monitor' });
    expect(never.last).to.deep.equal([]);
  });

  it('a defence check started while the monitor-address check runs does not void its answer: both repeat each second, so the answer was lost every time (lab test, make test 2026-12-03)', () => {
    const run = monitorSilent();
    const at = run.timer('dead-monitor') ?? 0;
    run.feed({ type: 'timer', nowUs: at, timer: 'dead-monitor' });
    const deadCheck = run.state.checkSeq;
    // The primary's defence check of its own address starts 10 ms later, inside the window.
    run.feed({ type: 'timer', nowUs: at + 10 * MS, timer: 'defend' });
    expect(run.find('check')).to.include({ address: 'primary' });
    expect(run.state.checkSeq).to.be.greaterThan(deadCheck);
    run.feed({
      type: 'check-result',
      id: deadCheck,
      nowUs: at + 50 * MS,
      startedUs: at,
      address: 'monitor',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0b'],
    });
    expect(fences(run.actions)).to.deep.equal(['b']);
    // The defence check's own answer still counts after it.
    run.feed({
      type: 'check-result',
      nowUs: at + 60 * MS,
      startedUs: at + 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
  });

  it('a monitor-address answer from before the monitor fell silent does not count as the dead-monitor check', () => {
    const run = monitorSilent();
    run.feed({ type: 'timer', nowUs: 2010 * MS, timer: 'defend' });
    run.feed({
      type: 'check-result',
      id: run.state.checkSeq - 1,
      nowUs: 2050 * MS,
      startedUs: 1990 * MS,
      address: 'monitor',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0b'],
    });
    expect(fences(run.actions)).to.deep.equal([]);
  });

  it('only a primary acts on it, and not in maintenance; a member that is not the monitor is ignored', () => {
    const monitorRun = bootTo('monitor', peerConfig());
    monitorRun.feed(heard('b', 'lan', 200 * MS));
    monitorRun.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'b', path: 'lan' });
    expect(monitorRun.timer('dead-monitor')).to.equal(undefined);
    const run = primary();
    run.feed(heard('c', 'lan', 200 * MS, false));
    run.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'c', path: 'lan' });
    expect(run.timer('dead-monitor')).to.equal(undefined);
    const resting = primary();
    resting.feed({ type: 'command', nowUs: 190 * MS, command: 'maintenance-on' });
    resting.feed(heard('b', 'lan', 200 * MS)).feed(heard('b', 'mgmt', 201 * MS));
    resting.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'b', path: 'lan' });
    resting.feed({ type: 'peer-silent', nowUs: 2000 * MS, node: 'b', path: 'mgmt' });
    expect(resting.timer('dead-monitor')).to.equal(undefined);
  });

  it('without the peer protocol, peer events change nothing', () => {
    const state = { ...initialState(1), phase: 'primary' as const };
    const result = step(machine(), state, { type: 'peer-silent', nowUs: 6, node: 'b', path: 'lan' });
    expect(result.actions).to.deep.equal([]);
  });
});

describe('role machine: a handover without a power cut (authenticated release)', () => {
  const config = (): MachineConfig => machine({ peer: peerPaths({ a: ['lan', 'mgmt'], c: ['lan'] }) });

  function released(): Run {
    const run = monitoring(config());
    // a, the holder, says (authenticated) it holds the primary address, then that it let go.
    run.feed({ ...heard('a', 'lan', 152 * MS, false), phase: 'primary', role: 'primary', holdsPrimary: true });
    run.feed({ ...heard('a', 'lan', 158 * MS, false), phase: 'spare', role: 'spare', holdsPrimary: false });
    return run;
  }

  it('the holder released the address: the monitor confirms silence and claims without fencing anyone', () => {
    const run = released();
    miss(run, 3, 160 * MS);
    expect(fences(run.actions)).to.deep.equal([]);
    expect(run.state.phase).to.equal('confirming');
    expect(run.find('check')).to.include({ address: 'primary' });
    run.feed({
      type: 'check-result',
      nowUs: 200 * MS,
      startedUs: 190 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.actions.some((a) => a.type === 'power-on')).to.equal(false);
    expect(run.state.role).to.equal('primary');
  });

  it('a release that is no longer heard (the holder went silent on every path) is not trusted: fence', () => {
    const run = released();
    run.feed({ type: 'peer-silent', nowUs: 159 * MS, node: 'a', path: 'lan' });
    run.feed({ type: 'peer-silent', nowUs: 159 * MS, node: 'a', path: 'mgmt' });
    miss(run, 3, 160 * MS);
    expect(fences(run.last)).to.deep.equal(['a']);
  });

  it('a holder that says it still holds the address is fenced as before', () => {
    const run = monitoring(config());
    run.feed({ ...heard('a', 'lan', 152 * MS, false), phase: 'primary', role: 'primary', holdsPrimary: true });
    miss(run, 3, 160 * MS);
    expect(fences(run.last)).to.deep.equal(['a']);
  });
});

describe('role machine: a handover’s final sync (sync.final_ms) before the claim', () => {
  const config = (): MachineConfig =>
    machine({
      peer: peerPaths({ a: ['lan', 'mgmt'], c: ['lan'] }),
      finalSyncUs: 500 * MS,
    });

  /** The release heard and the window missed: confirming, with the final sync asked for. */
  function handingOver(): Run {
    const run = monitoring(config());
    run.feed({ ...heard('a', 'lan', 152 * MS, false), phase: 'primary', role: 'primary', holdsPrimary: true });
    run.feed({ ...heard('a', 'lan', 158 * MS, false), phase: 'spare', role: 'spare', holdsPrimary: false });
    miss(run, 3, 160 * MS);
    expect(run.state.phase).to.equal('confirming');
    expect(run.actions.filter((a) => a.type === 'final-sync')).to.deep.equal([{ type: 'final-sync', from: 'a' }]);
    expect(run.actions.some((a) => a.type === 'set-timer' && a.timer === 'final-sync')).to.equal(true);
    expect(fences(run.actions)).to.deep.equal([]);
    return run;
  }

  const silent = (nowUs: number): Omit<Extract<Event, { type: 'check-result' }>, 'id'> => ({
    type: 'check-result',
    nowUs,
    startedUs: nowUs - 10 * MS,
    address: 'primary',
    taken: false,
    evidence: [],
  });
  const assigns = (run: Run): number =>
    run.actions.filter((a) => a.type === 'assign' && a.address === 'primary').length;

  it('the confirmation ends first: the claim waits for the final sync, then for a fresh confirmation', () => {
    const run = handingOver();
    run.feed(silent(200 * MS));
    expect(run.state.phase).to.equal('confirming');
    expect(assigns(run)).to.equal(0);
    run.feed({ type: 'final-sync-done', nowUs: 230 * MS, from: 'a', ok: true, detail: '2 file(s)' });
    expect(run.last.some((a) => a.type === 'cancel-timer' && a.timer === 'final-sync')).to.equal(true);
    expect(run.last.some((a) => a.type === 'log' && a.event === 'final-sync')).to.equal(true);
    // The address went unwatched while the pull ran: [0013] once more before the claim.
    expect(run.find('check')).to.include({ address: 'primary' });
    expect(assigns(run)).to.equal(0);
    run.feed(silent(240 * MS));
    expect(run.state.phase).to.equal('primary');
    expect(assigns(run)).to.equal(1);
  });

  it('the fresh confirmation after the pull finds the address held: no claim', () => {
    const run = handingOver();
    run.feed(silent(200 * MS));
    run.feed({ type: 'final-sync-done', nowUs: 230 * MS, from: 'a', ok: true, detail: '2 file(s)' });
    run.feed({ ...silent(240 * MS), taken: true, evidence: ['arp-reply 02:00:00:00:00:0c'] });
    expect(run.state.phase).to.equal('monitor');
    expect(assigns(run)).to.equal(0);
  });

  it('the final sync ends first: the claim follows the silent confirmation', () => {
    const run = handingOver();
    run.feed({ type: 'final-sync-done', nowUs: 180 * MS, from: 'a', ok: true, detail: '0 file(s)' });
    expect(run.state.phase).to.equal('confirming');
    run.feed(silent(200 * MS));
    expect(run.state.phase).to.equal('primary');
  });

  it('a final sync that fails or outlives sync.final_ms is logged as an error and does not stop the takeover', () => {
    const failed = handingOver();
    failed.feed(silent(200 * MS));
    failed.feed({ type: 'final-sync-done', nowUs: 210 * MS, from: 'a', ok: false, detail: 'connection refused' });
    failed.feed(silent(220 * MS));
    expect(failed.state.phase).to.equal('primary');
    expect(failed.actions.some((a) => a.type === 'log' && a.event === 'final-sync-failed')).to.equal(true);

    const late = handingOver();
    late.feed(silent(200 * MS));
    late.feed({ type: 'timer', nowUs: 660 * MS, timer: 'final-sync' });
    late.feed(silent(670 * MS));
    expect(late.state.phase).to.equal('primary');
    const line = late.actions.find((a) => a.type === 'log' && a.event === 'final-sync-failed');
    expect(line).to.deep.include({ level: 'error' });
    // The pull that ends after the claim changes nothing.
    late.feed({ type: 'final-sync-done', nowUs: 900 * MS, from: 'a', ok: true, detail: '1 file(s)' });
    expect(late.last.filter((a) => a.type !== 'log')).to.deep.equal([]);
  });

  it('the address answers during the confirmation: no claim, and the final sync’s end is ignored', () => {
    const run = handingOver();
    run.feed({ ...silent(200 * MS), taken: true, evidence: ['arp-reply 02:00:00:00:00:0a'] });
    expect(run.state.phase).to.equal('monitor');
    run.feed({ type: 'final-sync-done', nowUs: 230 * MS, from: 'a', ok: true, detail: '1 file(s)' });
    expect(run.state.phase).to.equal('monitor');
    expect(assigns(run)).to.equal(0);
  });

  it('with sync.final_ms 0 (or no replication) the claim follows the confirmation as before', () => {
    const run = monitoring(machine({ peer: peerPaths({ a: ['lan', 'mgmt'], c: ['lan'] }) }));
    run.feed({ ...heard('a', 'lan', 152 * MS, false), phase: 'primary', role: 'primary', holdsPrimary: true });
    run.feed({ ...heard('a', 'lan', 158 * MS, false), phase: 'spare', role: 'spare', holdsPrimary: false });
    miss(run, 3, 160 * MS);
    expect(run.actions.some((a) => a.type === 'final-sync')).to.equal(false);
    run.feed(silent(200 * MS));
    expect(run.state.phase).to.equal('primary');
  });
});

describe('role machine: no holder ever seen, members heard as spares holding nothing are not fenced (property seed 20261203, schedule 4072)', () => {
  const config = (): MachineConfig => machine({ peer: peerPaths({ a: ['lan', 'mgmt'], c: ['lan'] }) });

  /** A monitor that never saw a holder, past its grace, with what `a` and `c` said. */
  function neverSeen(a: Phase | null, c: Phase | null): Run {
    const run = becameMonitor(config());
    for (const [node, phase] of [
      ['a', a],
      ['c', c],
    ] as const)
      if (phase !== null)
        run.feed({ ...heard(node, 'lan', 160 * MS, false), phase, role: phase === 'spare' ? 'spare' : 'primary' });
    miss(run, 6, 150 * MS);
    miss(run, 1, 150 * MS + 2000 * MS);
    return run;
  }

  it('every other member a spare holding nothing: no fence, [0013] still confirms, then the claim says why', () => {
    const run = neverSeen('spare', 'spare');
    expect(fences(run.actions)).to.deep.equal([]);
    expect(run.state.phase).to.equal('confirming');
    expect(run.find('check')).to.include({ address: 'primary' });
    run.feed({
      type: 'check-result',
      nowUs: 2200 * MS,
      startedUs: 2190 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.actions.some((a) => a.type === 'power-on')).to.equal(false);
    expect(lastReason(run)).to.contain('every other member (a, c) was heard as a spare holding nothing');
  });

  it('one spare, one member booting (it could claim at boot): only the booting one is fenced', () => {
    const run = neverSeen('spare', 'boot-wait');
    expect(fences(run.actions)).to.deep.equal(['c']);
    run.feed({ type: 'fence-result', nowUs: 2300 * MS, target: 'c', ok: true, detail: 'off' });
    run.feed({
      type: 'check-result',
      nowUs: 2310 * MS,
      startedUs: 2300 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(lastReason(run)).to.contain('but the spares heard holding nothing (a)');
    expect(run.last.filter((x) => x.type === 'power-on')).to.deep.equal([{ type: 'power-on', target: 'c' }]);
  });

  it('a spare that went silent on every path since is fenced; one never heard is fenced', () => {
    const run = becameMonitor(config());
    run.feed({ ...heard('a', 'lan', 160 * MS, false), phase: 'spare', role: 'spare' });
    run.feed({ type: 'peer-silent', nowUs: 1200 * MS, node: 'a', path: 'lan' });
    run.feed({ type: 'peer-silent', nowUs: 1200 * MS, node: 'a', path: 'mgmt' });
    miss(run, 6, 150 * MS);
    miss(run, 1, 150 * MS + 2000 * MS);
    expect(fences(run.actions)).to.deep.equal(['a', 'c']);
  });

  it('a spare that says it holds the primary address is fenced', () => {
    const run = becameMonitor(config());
    run.feed({ ...heard('a', 'lan', 160 * MS, false), phase: 'spare', role: 'spare', holdsPrimary: true });
    run.feed({ ...heard('c', 'lan', 160 * MS, false), phase: 'spare', role: 'spare' });
    miss(run, 6, 150 * MS);
    miss(run, 1, 150 * MS + 2000 * MS);
    expect(fences(run.actions)).to.deep.equal(['a']);
  });

  it('entering spare releases both cluster addresses (none may stay in the kernel of a "spare holding nothing")', () => {
    const run = bootTo('spare', config());
    const releases = run.actions
      .filter((a) => a.type === 'release')
      .map((a) => (a.type === 'release' ? a.address : ''));
    expect(releases).to.deep.equal(['primary', 'monitor']);
    const at = (type: Action['type']): number => run.actions.findIndex((a) => a.type === type);
    expect(at('release')).to.be.lessThan(at('hook'));
  });
});

/** What `node` says of itself in a heartbeat heard on `path`. */
function says(
  node: string,
  nowUs: number,
  self: { phase: Phase; role: PersistedRole; epoch: number; holdsPrimary: boolean },
  path: 'lan' | 'mgmt' = 'mgmt',
): Extract<Event, { type: 'peer' }> {
  return { type: 'peer', nowUs, node, path, holdsMonitor: false, ...self };
}

const silentPrimary = (nowUs: number): Omit<Extract<Event, { type: 'check-result' }>, 'id'> => ({
  type: 'check-result',
  nowUs,
  startedUs: nowUs - 50 * MS,
  address: 'primary',
  taken: false,
  evidence: [],
});

const logged = (actions: Action[], event: string): boolean =>
  actions.some((a) => a.type === 'log' && a.event === event);

describe('role machine: a boot claim from silence waits for every member to be heard (fault campaign, issue 13)', () => {
  it('a member silent on every path could hold the address frozen: no claim, the persisted primary reboots as monitor', () => {
    // The campaign's two connected holders: a fenced primary powered on again while the new
    // primary was frozen with the address, found it silent and claimed it.
    const run = bootTo('primary', peerConfig());
    run.feed(heard('b', 'lan', 110 * MS, false)).feed(heard('b', 'mgmt', 111 * MS, false));
    run.feed({ type: 'peer-silent', nowUs: 115 * MS, node: 'c', path: 'lan' });
    run.feed(silentPrimary(150 * MS));
    expect(run.actions.some((a) => a.type === 'assign')).to.equal(false);
    expect(run.find('persist')).to.include({ role: 'monitor' });
    expect(run.find('reboot')).to.not.equal(undefined);
    expect(logged(run.last, 'no-unfenced-claim')).to.equal(true);
  });

  it('members not heard yet (booting together): checks again, and claims once all are heard', () => {
    const run = bootTo('primary', peerConfig());
    run.feed(silentPrimary(150 * MS));
    expect(run.state.phase).to.equal('boot-wait');
    expect(run.actions.some((a) => a.type === 'assign' || a.type === 'reboot')).to.equal(false);
    const at = run.timer('boot-delay') ?? 0;
    expect(at).to.be.above(150 * MS);
    run.feed(heard('b', 'lan', 160 * MS)).feed(heard('c', 'lan', 170 * MS, false));
    run.feed({ type: 'timer', nowUs: at, timer: 'boot-delay' });
    run.feed(silentPrimary(at + 50 * MS));
    expect(run.state.phase).to.equal('primary');
    expect(run.find('assign')).to.include({ address: 'primary' });
  });

  it('a member heard, but not in the last peer.freshUs: no claim yet; checks again, and claims once it is heard again', () => {
    // Property test, isolated gate, seed 20261204, schedule 2321: our management path cut, the
    // other member's switch port silent; it claimed 8 ms after its last heartbeat reached us,
    // we claimed 342 ms after, and both held the address when its port came back.
    const run = bootTo('primary', peerConfig());
    run.feed(heard('b', 'lan', 100 * MS, false)).feed(heard('c', 'lan', 300 * MS, false));
    run.feed(silentPrimary(360 * MS)); // b last heard 260 ms ago
    expect(run.state.phase).to.equal('boot-wait');
    expect(run.actions.some((a) => a.type === 'assign' || a.type === 'persist')).to.equal(false);
    const waited = run.last.find((a) => a.type === 'transition');
    expect(waited?.type === 'transition' ? waited.reason : '').to.contain('b not heard in the last 250 ms');
    const at = run.timer('boot-delay') ?? 0;
    run.feed(heard('b', 'lan', at - 10 * MS, false)).feed(heard('c', 'lan', at - 5 * MS, false));
    run.feed({ type: 'timer', nowUs: at, timer: 'boot-delay' });
    run.feed(silentPrimary(at + 50 * MS));
    expect(run.state.phase).to.equal('primary');
    expect(run.find('assign')).to.include({ address: 'primary' });
  });

  it('a member heard 250 ms ago still speaks for itself: the claim goes ahead', () => {
    const run = bootTo('primary', peerConfig());
    run.feed(heard('b', 'lan', 110 * MS, false)).feed(heard('c', 'lan', 300 * MS, false));
    run.feed(silentPrimary(360 * MS));
    expect(run.state.phase).to.equal('primary');
  });

  it('with fencing.required false, the silent address is claimed as before', () => {
    const config = peerConfig();
    const run = bootTo('primary', { ...config, fencing: { ...config.fencing, required: false } });
    run.feed(silentPrimary(150 * MS));
    expect(run.state.phase).to.equal('primary');
  });
});

describe('role machine: a member that yields is not yielded to (fault campaign, issue 13)', () => {
  /** A persisted primary that heard `peer` (a spare at `peerEpoch`) and c, and claimed. */
  function primaryAfter(config: MachineConfig, peer: string, peerEpoch: number): Run {
    const run = bootTo('primary', config);
    run.feed(says(peer, 110 * MS, { phase: 'spare', role: 'spare', epoch: peerEpoch, holdsPrimary: false }));
    run.feed(says('c', 111 * MS, { phase: 'spare', role: 'spare', epoch: 1, holdsPrimary: false }, 'lan'));
    run.feed(silentPrimary(150 * MS));
    expect(run.state.phase).to.equal('primary');
    return run;
  }

  it('the loser’s heartbeat between its yield and its release carries its next epoch: the winner keeps the address', () => {
    const winner = primaryAfter(peerConfig(), 'b', 6); // a, epoch 7
    const loserConfig = machine({
      peer: peerPaths({ a: ['lan', 'mgmt'], c: ['lan'] }),
    });
    const loser = primaryAfter(loserConfig, 'a', 4); // b, epoch 5
    expect(winner.state.epoch).to.be.above(loser.state.epoch);
    // The two meet (a frozen holder thawed): b hears a at the higher epoch and yields.
    loser.feed(
      says('a', 1000 * MS, { phase: 'primary', role: 'primary', epoch: winner.state.epoch, holdsPrimary: true }),
    );
    expect(loser.find('release')).to.include({ address: 'primary' });
    expect(loser.state.epoch).to.be.above(winner.state.epoch);
    // Until its executor has released the address, b's heartbeat says it holds it, at the
    // epoch of its next role (the executor reports the address as it holds it).
    const { phase, role, epoch } = loser.state;
    winner.feed(says('b', 1001 * MS, { phase, role, epoch, holdsPrimary: true }));
    expect(winner.actions.some((a) => a.type === 'release')).to.equal(false);
    expect(winner.state.phase).to.equal('primary');
    expect(winner.find('announce')).to.include({ address: 'primary' });
  });

  it('a member in phase primary at a higher epoch still wins', () => {
    const run = primaryAfter(peerConfig(), 'b', 6);
    run.feed(
      says('b', 1000 * MS, { phase: 'primary', role: 'primary', epoch: run.state.epoch + 1, holdsPrimary: true }),
    );
    expect(run.find('release')).to.include({ address: 'primary' });
    expect(run.state.phase).to.equal('booting');
  });
});

describe('role machine: booting together, the member of the higher name claims first (issue 11)', () => {
  /** `node`'s heartbeat on the management path: persisted primary, on its way to a boot claim. */
  const onItsWay = (node: string, nowUs: number, phase: Phase = 'checking-primary'): Event =>
    says(node, nowUs, { phase, role: 'primary', epoch: 0, holdsPrimary: false });

  /**
   * Runs the machine from `fromUs` to `untilUs` in 5 ms steps: each step first feeds what
   * `world` says happens then, then the boot-delay timer when it is due, then the answer to
   * a check of the primary address `answerAfterUs` after it was asked (always silent: `world`
   * cannot answer a check). Returns the steps' assigns and persists, each with its time.
   */
  function drive(
    run: Run,
    fromUs: number,
    untilUs: number,
    world: (nowUs: number) => Event[],
    answerAfterUs = 50 * MS,
  ): Array<{ atUs: number; action: Action }> {
    const effects: Array<{ atUs: number; action: Action }> = [];
    let timerUs = run.timer('boot-delay') ?? null;
    let answerUs: number | null = null;
    const collect = (): void => {
      for (const action of run.last)
        if (action.type === 'assign' || action.type === 'persist') effects.push({ atUs: nowUs, action });
      timerUs = run.timer('boot-delay') ?? timerUs;
      if (run.last.some((a) => a.type === 'check' && a.address === 'primary')) answerUs = nowUs + answerAfterUs;
    };
    let nowUs = fromUs;
    for (; nowUs <= untilUs; nowUs += 5 * MS) {
      for (const e of world(nowUs)) {
        run.feed(e);
        collect();
      }
      if (timerUs !== null && timerUs <= nowUs) {
        timerUs = null;
        run.feed({ type: 'timer', nowUs, timer: 'boot-delay' });
        collect();
      }
      if (answerUs !== null && answerUs <= nowUs) {
        answerUs = null;
        run.feed(silentPrimary(nowUs));
        collect();
      }
    }
    return effects;
  }

  it('a silent check while a member of a higher name was heard lately checking the primary address: no claim; once its word is stale, none either; once it is declared silent, the persisted primary reboots as monitor', () => {
    // Property test, isolated gate, seed 20261204, schedule 7143 (before this rule): e's switch
    // port went silent 16 ms before e claimed from silence; d, its management path cut, claimed
    // 14 ms after e on e's last word ("checking"), still fresh; both held the address for
    // 61.4 ms once e's port came back. Here a is d, b is e.
    const run = bootTo('primary', peerConfig());
    run.feed(onItsWay('b', 110 * MS)).feed(heard('c', 'lan', 120 * MS, false));
    run.feed(silentPrimary(150 * MS));
    expect(run.state.phase).to.equal('boot-wait');
    expect(run.actions.some((a) => a.type === 'assign' || a.type === 'persist')).to.equal(false);
    const deferred = run.last.find((a) => a.type === 'transition');
    expect(deferred?.type === 'transition' ? deferred.reason : '').to.contain('b (a higher name)');
    // b is not heard again; c is, every 100 ms; b is declared silent on both paths at 1110 ms.
    const effects = drive(run, 150 * MS, 1500 * MS, (nowUs) => [
      ...(nowUs % (100 * MS) === 20 * MS ? [heard('c', 'lan', nowUs, false)] : []),
      ...(nowUs === 1110 * MS
        ? (['lan', 'mgmt'] as const).map((path): Event => ({ type: 'peer-silent', nowUs, node: 'b', path }))
        : []),
    ]);
    expect(effects.filter((e) => e.action.type === 'assign')).to.deep.equal([]);
    expect(effects.find((e) => e.action.type === 'persist')?.action).to.deep.include({ role: 'monitor' });
    expect(run.actions.some((a) => a.type === 'log' && a.event === 'no-unfenced-claim')).to.equal(true);
  });

  it('while the higher-named member is on its way, the lower one does not even check (its probes would only make the other back off); it checks once that member holds the address', () => {
    const run = new Run(peerConfig());
    run.feed({ type: 'boot', nowUs: 0, record: null, linkUp: true, bootId: 'boot-1' });
    run.feed(onItsWay('b', 5 * MS, 'boot-wait')).feed(heard('c', 'lan', 6 * MS, false));
    const at = run.timer('boot-delay') ?? 0;
    run.feed({ type: 'timer', nowUs: at, timer: 'boot-delay' });
    expect(run.last.some((a) => a.type === 'check')).to.equal(false);
    expect(run.state.phase).to.equal('boot-wait');
    const first = run.last.find((a) => a.type === 'transition');
    expect(first).to.deep.include({ from: 'boot-wait', to: 'boot-wait' });
    expect(first !== undefined && 'routine' in first).to.equal(false);
    // Still on its way at the next look: a routine transition (kept out of the history).
    run.feed(onItsWay('b', at + 10 * MS));
    const next = run.timer('boot-delay') ?? 0;
    run.feed({ type: 'timer', nowUs: next, timer: 'boot-delay' });
    expect(run.last.some((a) => a.type === 'check')).to.equal(false);
    expect(run.last.find((a) => a.type === 'transition')).to.deep.include({ routine: true });
    // b claimed: its heartbeat says so. a checks now, hears b holding it, and reboots as monitor.
    run.feed(says('b', next + 10 * MS, { phase: 'primary', role: 'primary', epoch: 1, holdsPrimary: true }));
    run.feed({ type: 'timer', nowUs: run.timer('boot-delay') ?? 0, timer: 'boot-delay' });
    expect(run.find('check')).to.include({ address: 'primary' });
    run.feed(silentPrimary((run.timer('boot-delay') ?? next) + 100 * MS));
    expect(run.find('persist')).to.deep.include({ role: 'monitor' });
  });

  it('a higher-named member heard on its way for longer than peer.deferUs: the lower one checks and claims then (a member stuck in its boot does not stop every claim)', () => {
    const run = new Run(peerConfig());
    // b's uplink is silent, say: it stays in its boot, heard every 100 ms on the management path.
    const world = (nowUs: number): Event[] =>
      nowUs % (100 * MS) === 0
        ? [
            onItsWay('b', nowUs, nowUs % (200 * MS) === 0 ? 'boot-wait' : 'checking-uplink'),
            heard('c', 'lan', nowUs + 1, false),
          ]
        : [];
    for (const e of world(0)) run.feed(e);
    run.feed({ type: 'boot', nowUs: 0, record: null, linkUp: true, bootId: 'boot-1' });
    const effects = drive(run, 5 * MS, 2000 * MS, world);
    const since = run.state.deferSinceUs ?? Infinity;
    expect(since).to.be.at.most(200 * MS);
    const assign = effects.find((e) => e.action.type === 'assign');
    expect(assign?.action).to.deep.include({ address: 'primary' });
    expect(assign?.atUs).to.be.at.least(since + 1000 * MS);
    expect(run.state.phase).to.equal('primary');
  });

  it('the member of the highest name never defers: members of lower names on their way do not hold its claim up', () => {
    const config = machine({
      self: 'c',
      selfMac: '02:00:00:00:00:0c',
      peer: peerPaths({ a: ['lan', 'mgmt'], b: ['lan', 'mgmt'] }),
    });
    const run = bootTo('primary', config);
    run.feed(onItsWay('a', 120 * MS)).feed(onItsWay('b', 125 * MS));
    run.feed(silentPrimary(150 * MS));
    expect(run.state.phase).to.equal('primary');
    expect(run.find('assign')).to.include({ address: 'primary' });
  });

  it('a higher-named member on its way as monitor, or not heard lately, is no reason to defer (the stale rule covers the latter)', () => {
    const monitorRun = bootTo('primary', peerConfig());
    monitorRun.feed(says('b', 120 * MS, { phase: 'checking-monitor', role: 'monitor', epoch: 1, holdsPrimary: false }));
    monitorRun.feed(heard('c', 'lan', 121 * MS, false)).feed(silentPrimary(150 * MS));
    expect(monitorRun.state.phase).to.equal('primary');
    const staleRun = bootTo('primary', peerConfig());
    staleRun.feed(onItsWay('b', 100 * MS)).feed(heard('c', 'lan', 300 * MS, false));
    staleRun.feed(silentPrimary(360 * MS));
    const waited = staleRun.last.find((a) => a.type === 'transition');
    expect(waited?.type === 'transition' ? waited.reason : '').to.contain('b not heard in the last 250 ms');
  });

  it('with fencing.required false, or under the lease gate, nobody defers', () => {
    const config = peerConfig();
    const unfenced = bootTo('primary', { ...config, fencing: { ...config.fencing, required: false } });
    unfenced.feed(onItsWay('b', 120 * MS)).feed(silentPrimary(150 * MS));
    expect(unfenced.state.phase).to.equal('primary');
    const leased = bootTo('primary', { ...config, lease: { acquireUs: 500 * MS } });
    leased
      .feed(onItsWay('b', 120 * MS))
      .feed(heard('c', 'lan', 121 * MS, false))
      .feed(silentPrimary(150 * MS));
    expect(leased.last.some((a) => a.type === 'lease-acquire')).to.equal(true);
  });
});
