import { expect } from 'chai';
import type { Action } from '../../../src/role/index.js';
import { HALT_RETRY_US, MAX_NEIGHBOR_REPAIRS, TIMER } from '../../../src/role/index.js';
import { batch, bootTo, machine, miss, monitoring, MS, record, Run } from './fixtures.js';

function indexOf(actions: Action[], type: Action['type'], pick: (a: Action) => boolean = () => true): number {
  return actions.findIndex((a) => a.type === type && pick(a));
}

describe('role machine: boot (FIG. 1 and FIG. 2)', () => {
  it('boots as primary by default, after a random delay within the boot jitter', () => {
    const run = new Run(machine());
    run.feed({ type: 'boot', nowUs: 0, record: null, linkUp: true, bootId: 'boot-1' });
    expect(run.state.phase).to.equal('boot-wait');
    expect(run.state.role).to.equal('primary');
    const at = run.timer('boot-delay');
    expect(at)
      .to.be.a('number')
      .within(0, 200 * MS);
  });

  it('different seeds give different boot delays', () => {
    const delays = new Set<number | undefined>();
    for (let seed = 1; seed <= 8; seed++) {
      delays.add(
        new Run(machine(), seed)
          .feed({ type: 'boot', nowUs: 0, record: null, linkUp: true, bootId: 'boot-1' })
          .timer('boot-delay'),
      );
    }
    expect(delays.size).to.be.greaterThan(4);
  });

  it('checks the primary address before claiming it', () => {
    const run = bootTo(null);
    expect(run.state.phase).to.equal('checking-primary');
    expect(run.find('check')).to.deep.include({ type: 'check', address: 'primary', windowUs: 50 * MS });
    expect(run.types()).to.not.include('assign');
  });

  it('claims a silent primary address: persist, then assign, announce, on_primary hook', () => {
    const run = bootTo(null);
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.types()).to.deep.equal(['persist', 'assign', 'announce', 'hook']);
    expect(run.find('persist')).to.include({ role: 'primary', epoch: 1 });
    expect(run.find('hook')).to.deep.equal({ type: 'hook', hook: 'on_primary' });
  });

  it('primary address answered: persists role monitor and reboots (FIG. 1 steps 12-14)', () => {
    const run = bootTo('primary');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0a'],
    });
    expect(run.types()).to.deep.equal(['persist', 'reboot']);
    expect(run.find('persist')).to.include({ role: 'monitor', epoch: 4 });
    expect(run.state.phase).to.equal('booting');
  });

  it('persisted monitor: checks the monitor address and claims it when silent', () => {
    const run = bootTo('monitor');
    expect(run.find('check')).to.include({ address: 'monitor' });
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'monitor',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('monitor');
    expect(run.types()).to.deep.equal(['persist', 'assign', 'announce', 'hook', 'probe-start']);
    expect(run.find('assign')).to.deep.equal({ type: 'assign', address: 'monitor' });
    expect(run.find('probe-start')).to.deep.equal({ type: 'probe-start', atUs: 150 * MS });
  });

  it('fencing.required: false — monitor address taken and primary silent: persists primary and reboots (FIG. 2 steps 24-26)', () => {
    const run = bootTo('monitor', machine({ fencing: { ...machine().fencing, required: false } }));
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'monitor',
      taken: true,
      evidence: ['arp-reply x'],
    });
    expect(run.state.phase).to.equal('rechecking-primary');
    expect(run.find('check')).to.include({ address: 'primary' });
    run.feed({
      type: 'check-result',
      nowUs: 200 * MS,
      startedUs: 200 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.types()).to.deep.equal(['persist', 'reboot']);
    expect(run.find('persist')).to.include({ role: 'primary' });
  });

  it('fencing.required: true — monitor address taken and primary silent: claims nothing, waits as a spare', () => {
    const run = bootTo('monitor');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 140 * MS,
      address: 'monitor',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0c'],
    });
    run.feed({
      type: 'check-result',
      nowUs: 200 * MS,
      startedUs: 190 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('spare');
    expect(run.find('persist')).to.include({ role: 'spare' });
    expect(run.actions.some((a) => a.type === 'assign' || a.type === 'reboot')).to.equal(false);
  });

  it('strangers are never obeyed: a boot check answered only by a non-member MAC claims, and raises an alarm', () => {
    const run = bootTo('primary');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 140 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply 00:00:5e:00:00:01'],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.last.some((a) => a.type === 'log' && a.event === 'stranger-arp' && a.level === 'error')).to.equal(true);
  });

  it('strangers are never obeyed: a defence check that hears a lower non-member MAC keeps the address', () => {
    const run = bootTo('primary', machine({ defendUs: 1000 * MS }));
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 140 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    run.feed({ type: 'timer', nowUs: 1150 * MS, timer: 'defend' });
    run.feed({
      type: 'check-result',
      nowUs: 1200 * MS,
      startedUs: 1150 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply 00:00:5e:00:00:01'],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.types()).to.not.include('release');
    // A member with the lower MAC is still obeyed.
    run.feed({ type: 'timer', nowUs: 2150 * MS, timer: 'defend' });
    run.feed({
      type: 'check-result',
      nowUs: 2200 * MS,
      startedUs: 2150 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0a', 'arp-reply 00:00:5e:00:00:01'],
    });
    expect(run.types()).to.include('release');
    expect(run.state.phase).to.equal('booting');
  });

  it('uplink configured: no claim before the uplink host is heard; a silent uplink backs off', () => {
    const run = new Run(machine({ uplink: true }));
    run.feed({ type: 'boot', nowUs: 0, record: record('primary'), linkUp: true, bootId: 'boot-1' });
    run.feed({ type: 'timer', nowUs: 100 * MS, timer: 'boot-delay' });
    expect(run.state.phase).to.equal('checking-uplink');
    expect(run.find('check')).to.include({ address: 'uplink' });
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 100 * MS,
      address: 'uplink',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('boot-wait');
    expect(run.actions.some((a) => a.type === 'check' && a.address === 'primary')).to.equal(false);
    run.feed({ type: 'timer', nowUs: run.timer('boot-delay') ?? 0, timer: 'boot-delay' });
    run.feed({
      type: 'check-result',
      nowUs: 500 * MS,
      startedUs: 450 * MS,
      address: 'uplink',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:01'],
    });
    expect(run.state.phase).to.equal('checking-primary');
  });

  it('both addresses taken: waits as a spare instead of rebooting forever', () => {
    const run = bootTo('monitor');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'monitor',
      taken: true,
      evidence: ['arp-reply x'],
    });
    run.feed({
      type: 'check-result',
      nowUs: 200 * MS,
      startedUs: 200 * MS - 10 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply y'],
    });
    expect(run.state.phase).to.equal('spare');
    expect(run.types()).to.deep.equal(['persist', 'release', 'release', 'hook', 'set-timer']);
    expect(run.find('persist')).to.include({ role: 'spare' });
    expect(run.types()).to.not.include('reboot');
    expect(run.timer('spare-check')).to.be.within(200 * MS + 1000 * MS, 200 * MS + 1500 * MS);
  });

  it('only the answer to the latest check counts: an older one (in flight across a reboot) is ignored', () => {
    const run = bootTo('primary');
    const first = run.find('check')?.id ?? -1;
    // The check's answer is late; the link flaps and the machine re-enters boot and checks again.
    run.feed({ type: 'link', nowUs: 120 * MS, up: false });
    run.feed({ type: 'link', nowUs: 130 * MS, up: true });
    const fresh = new Run(run.config);
    fresh.state = { ...fresh.state, checkSeq: run.state.checkSeq };
    fresh.feed({ type: 'boot', nowUs: 130 * MS, record: record('primary'), linkUp: true, bootId: 'boot-1' });
    fresh.feed({ type: 'timer', nowUs: 200 * MS, timer: 'boot-delay' });
    expect(fresh.find('check')?.id).to.be.above(first);
    fresh.feed({
      type: 'check-result',
      id: first,
      nowUs: 210 * MS,
      startedUs: 205 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(fresh.state.phase).to.equal('checking-primary');
    expect(fresh.types()).to.deep.equal([]);
  });

  it('a result for a phase already left is ignored', () => {
    const run = bootTo('primary');
    const before = run.state;
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'monitor',
      taken: false,
      evidence: [],
    });
    expect(run.state).to.equal(before);
    expect(run.last).to.deep.equal([]);
  });

  it('a contended check (simultaneous probe, nobody holds it) backs off and checks again', () => {
    const run = bootTo('primary');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'primary',
      taken: true,
      contended: true,
      evidence: ['arp-probe x'],
    });
    expect(run.state.phase).to.equal('boot-wait');
    expect(run.types()).to.deep.equal(['set-timer']);
    expect(run.timer('boot-delay')).to.be.above(150 * MS);
    run.feed({ type: 'timer', nowUs: run.timer('boot-delay') ?? 0, timer: 'boot-delay' });
    expect(run.find('check')).to.include({ address: 'primary' });
  });

  it('boots into link-down when the link is down, and re-enters boot when it comes up', () => {
    const run = new Run(machine());
    run.feed({ type: 'boot', nowUs: 0, record: record('primary'), linkUp: false, bootId: 'boot-1' });
    expect(run.state.phase).to.equal('link-down');
    run.feed({ type: 'link', nowUs: 10, up: true });
    expect(run.types()).to.deep.equal(['reboot']);
  });
});

describe('role machine: spares', () => {
  function spare(): Run {
    const run = bootTo('spare');
    expect(run.state.phase).to.equal('spare');
    return run;
  }

  it('persisted spare re-checks the monitor address on its period, counted from boot', () => {
    const run = spare();
    const at = run.timer('spare-check') ?? 0;
    expect(at).to.be.within(100 * MS + 1000 * MS, 100 * MS + 1500 * MS);
    run.feed({ type: 'timer', nowUs: at, timer: 'spare-check' });
    expect(run.state.phase).to.equal('spare-checking');
    expect(run.find('check')).to.include({ address: 'monitor' });
  });

  it('stays spare while the monitor address is taken, with a jittered period', () => {
    const run = spare();
    const delays: number[] = [];
    let now = run.timer('spare-check') ?? 0;
    for (let i = 0; i < 6; i++) {
      run.feed({ type: 'timer', nowUs: now, timer: 'spare-check' });
      run.feed({
        type: 'check-result',
        nowUs: now + 50 * MS,
        startedUs: now + 50 * MS - 10 * MS,
        address: 'monitor',
        taken: true,
        evidence: ['arp-reply m'],
      });
      expect(run.state.phase).to.equal('spare');
      expect(run.types()).to.not.include('persist');
      const next = run.timer('spare-check') ?? 0;
      delays.push(next - (now + 50 * MS));
      now = next;
    }
    for (const d of delays) expect(d).to.be.within(1000 * MS, 1500 * MS);
    expect(new Set(delays).size).to.be.greaterThan(3);
  });

  it('claims the monitor role when the monitor address frees up: persists monitor and reboots', () => {
    const run = spare();
    run.feed({ type: 'timer', nowUs: 2000 * MS, timer: 'spare-check' });
    run.feed({
      type: 'check-result',
      nowUs: 2050 * MS,
      startedUs: 2050 * MS - 10 * MS,
      address: 'monitor',
      taken: false,
      evidence: [],
    });
    expect(run.types()).to.deep.equal(['persist', 'reboot']);
    expect(run.find('persist')).to.include({ role: 'monitor' });
  });
});

describe('role machine: monitor probing', () => {
  it('learns which member holds the primary address from the ARP entry', () => {
    const run = monitoring();
    expect(run.state.probe.holder).to.equal('a');
  });

  it('an answer resets the miss count', () => {
    const run = monitoring();
    miss(run, 2, 160 * MS);
    expect(run.state.probe.misses).to.equal(2);
    run.feed(batch(181 * MS, 1));
    expect(run.state.probe.misses).to.equal(0);
    expect(run.types()).to.include('lookup-holder');
  });

  it('asks for a sync every sync.every_probes answered probes', () => {
    const run = monitoring(); // probe 1 answered
    let syncs = 0;
    for (let i = 0; i < 9; i++) {
      run.feed(batch(160 * MS + i * 10 * MS + 100, 1));
      const sync = run.find('sync');
      if (sync !== undefined) {
        syncs += 1;
        expect(sync.okProbes % 5).to.equal(0);
      }
    }
    expect(syncs).to.equal(2); // after answered probes 5 and 10
  });
});

describe('role machine: fencing and takeover', () => {
  it('after probe.misses consecutive misses, fences the member that held the address', () => {
    const run = monitoring();
    miss(run, 2, 160 * MS);
    expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
    miss(run, 1, 180 * MS);
    expect(run.find('fence')).to.deep.equal({ type: 'fence', id: 1, target: 'a' });
    expect(run.state.fence.status).to.equal('running');
  });

  it('the result of a fence of a round given up does not count for a later fence of the same member', () => {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    expect(run.find('fence')).to.deep.equal({ type: 'fence', id: 1, target: 'a' });
    // The round ends with fence 1 still running; a later round fences a again.
    run.feed({ type: 'command', nowUs: 200 * MS, command: 'maintenance-on' });
    run.feed({ type: 'command', nowUs: 210 * MS, command: 'maintenance-off' });
    miss(run, 3, 220 * MS);
    expect(run.find('fence')).to.deep.equal({ type: 'fence', id: 2, target: 'a' });
    // Fence 1 reads a's power off: that was before fence 2, whose own result decides.
    run.feed({ type: 'fence-result', nowUs: 300 * MS, id: 1, target: 'a', ok: true, detail: 'off' });
    expect(run.state.phase).to.equal('monitor');
    expect(run.state.fence).to.deep.include({ status: 'running', pending: ['a'], fenced: [] });
    expect(run.last).to.deep.equal([
      {
        type: 'log',
        level: 'info',
        event: 'fence-superseded',
        message: 'the result of fence 1 of a (done: off) does not count: fence 2 of it is awaited',
        fields: { target: 'a', fenceId: 1, awaitedId: 2 },
      },
    ]);
    run.feed({ type: 'fence-result', nowUs: 310 * MS, id: 2, target: 'a', ok: true, detail: 'off' });
    expect(run.state.phase).to.equal('confirming');
  });

  describe('under the lease gate', () => {
    const leased = (): Run =>
      monitoring(machine({ fencing: { ...machine().fencing, gate: 'lease' }, lease: { acquireUs: 1000 * MS } }));

    it('the first run of misses asks for the lease and fences nobody yet', () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      expect(run.types()).to.include('lease-acquire');
      expect(run.types()).to.not.include('fence');
      expect(run.state.phase).to.equal('confirming');
      expect(run.state.lease.status).to.equal('acquiring');
      expect(run.state.fence.afterLease).to.deep.equal(['a']);
      // It goes on probing while it waits: an answer would end the claim.
      expect(run.types()).to.not.include('probe-stop');
      const silent = run.last.find((a) => a.type === 'log' && a.event === 'primary-silent');
      expect(silent, 'primary-silent logged').to.not.equal(undefined);
      expect(run.last.some((a) => a.type === 'log' && a.event === 'primary-down')).to.equal(false);
    });

    it('the lease granted: primary-down, claim (its record saved while the request is out), announce, then the fence (detached), then the monitor address goes', () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      const epoch = run.state.lease.epoch;
      // The lease is asked for first; the claim's record is saved in the same step, at the
      // epoch asked, so it is on disk before any later event's actions (the grant's assign).
      const asked = run.last;
      const saved = indexOf(asked, 'persist');
      expect(saved).to.be.above(-1);
      expect(saved).to.be.above(indexOf(asked, 'lease-acquire'));
      expect(asked[saved]).to.deep.include({ type: 'persist', role: 'primary', epoch });
      expect(run.state.role).to.equal('primary');
      expect(run.state.epoch).to.equal(epoch);
      expect(run.state.phase).to.equal('confirming');
      run.feed({ type: 'lease', nowUs: 200 * MS, held: true, epoch, detail: 'granted by b, c' });
      expect(run.state.phase).to.equal('primary');
      const acts = run.last;
      const down = indexOf(acts, 'log', (a) => a.type === 'log' && a.event === 'primary-down');
      const assign = indexOf(acts, 'assign', (a) => a.type === 'assign' && a.address === 'primary');
      const announce = indexOf(acts, 'announce');
      const fence = indexOf(acts, 'fence');
      const releaseMonitor = indexOf(acts, 'release', (a) => a.type === 'release' && a.address === 'monitor');
      expect(down).to.be.above(-1);
      expect(down).to.be.below(assign);
      // Not saved again before the address: the grant's step assigns at once.
      const savedFenced = indexOf(acts, 'persist');
      expect(savedFenced).to.be.above(announce);
      // What it is about to power off is saved before the fence (off-on), at a new epoch, so a
      // restart while the BMC takes seconds to cut the power still powers it on again.
      expect(savedFenced).to.be.below(fence);
      expect(acts[savedFenced]).to.deep.include({
        type: 'persist',
        role: 'primary',
        epoch: epoch + 1,
        poweredOff: ['a'],
      });
      expect(run.state.epoch).to.equal(epoch + 1);
      expect(run.state.poweredOff).to.deep.equal(['a']);
      expect(fence).to.be.above(announce);
      expect(releaseMonitor).to.be.above(fence);
      expect(acts[fence]).to.deep.equal({ type: 'fence', id: 1, target: 'a', detached: true });
      // Probing, which went on while the lease was asked for, stops once the address is announced.
      expect(indexOf(acts, 'probe-stop')).to.be.above(announce);
      expect(indexOf(acts, 'probe-stop')).to.be.below(fence);
      // A detached fence's result never comes back: nothing waits for it.
      expect(run.state.fenceIds).to.deep.equal({});
    });

    it("the claim's record cannot be saved: the lease already asked for is given back, halted, and a late grant claims nothing", () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      const epoch = run.state.lease.epoch;
      expect(run.state.lease.status).to.equal('acquiring');
      run.feed({ type: 'persist-failed', nowUs: 170 * MS, detail: 'ENOSPC' });
      expect(run.state.phase).to.equal('halted');
      expect(run.last).to.deep.include({ type: 'lease-release' });
      expect(run.state.lease.status).to.equal('none');
      expect(run.find('fence')).to.equal(undefined);
      // A grant already on its way finds nobody waiting: given back, no address.
      run.feed({ type: 'lease', nowUs: 172 * MS, held: true, epoch, detail: 'granted by b, c' });
      expect(run.state.phase).to.equal('halted');
      expect(run.last.some((a) => a.type === 'assign')).to.equal(false);
      expect(run.last).to.deep.include({ type: 'lease-release' });
    });

    it('the lease refused: nobody fenced, back to probing; a second run of misses fences at once', () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      const at = run.timer('lease-timeout') ?? 0;
      run.feed({ type: 'timer', nowUs: at, timer: 'lease-timeout' });
      expect(run.state.phase).to.equal('monitor');
      expect(run.state.fence.status).to.equal('backoff');
      const refused = run.last.find((a) => a.type === 'log' && a.event === 'lease-refused');
      expect(refused).to.deep.include({ level: 'warn' });
      expect(refused?.type === 'log' ? refused.fields : undefined).to.deep.include({ notFenced: 'a' });
      expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
      expect(run.last).to.deep.include({ type: 'lease-release' });
      // The probes stay unanswered through the backoff: the retry fences a at once.
      const retry = run.timer('fence-retry') ?? 0;
      miss(run, 3, at + MS);
      run.feed({ type: 'timer', nowUs: retry, timer: 'fence-retry' });
      const kinds = run.last.map((a) => a.type);
      expect(kinds.indexOf('lease-acquire'), kinds.join(', ')).to.be.at.least(0);
      expect(kinds.indexOf('lease-acquire')).to.be.below(kinds.indexOf('fence'));
      expect(run.find('fence')).to.deep.include({ type: 'fence', target: 'a', detached: true });
      // The fence that goes out at once (off-on) is in the claim's record, saved before it,
      // with when: a restart powers a on again (after its power reads off).
      const claimSave = run.last.find((a) => a.type === 'persist');
      expect(claimSave).to.deep.include({ role: 'primary', poweredOff: ['a'] });
      expect(claimSave?.type === 'persist' ? claimSave.poweredOffAt : undefined).to.deep.equal({
        bootId: 'boot-1',
        atUs: retry,
      });
      expect(kinds.indexOf('persist')).to.be.below(kinds.indexOf('fence'));
      expect(run.state.phase).to.equal('confirming');
      expect(run.state.fence.afterLease).to.equal(undefined);
      // Granted now: the claim carries no second fence of a.
      run.feed({ type: 'lease', nowUs: retry + 50 * MS, held: true, epoch: run.state.lease.epoch, detail: 'granted' });
      expect(run.state.phase).to.equal('primary');
      expect(run.types()).to.not.include('fence');
    });

    it('a power-on confirmed during a claim only shortens the list: the claim is not saved over, the grant saves it', () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      const at = run.timer('lease-timeout') ?? 0;
      run.feed({ type: 'timer', nowUs: at, timer: 'lease-timeout' });
      const retry = run.timer('fence-retry') ?? 0;
      miss(run, 3, at + MS);
      run.feed({ type: 'timer', nowUs: retry, timer: 'fence-retry' });
      expect(run.state.lease.status).to.equal('acquiring');
      expect(run.state.poweredOff).to.deep.equal(['a']);
      const epoch = run.state.epoch;
      run.feed({ type: 'powered-on', nowUs: retry + 5 * MS, target: 'a' });
      expect(run.last.some((a) => a.type === 'persist')).to.equal(false);
      expect(run.state.poweredOff).to.deep.equal([]);
      expect(run.state.epoch).to.equal(epoch);
      run.feed({ type: 'lease', nowUs: retry + 10 * MS, held: true, epoch: run.state.lease.epoch, detail: 'granted' });
      expect(run.state.phase).to.equal('primary');
      const saved = run.last.find((a) => a.type === 'persist');
      expect(saved).to.deep.include({ role: 'primary' });
      expect(saved?.type === 'persist' ? saved.poweredOff : 'absent').to.equal(undefined);
    });

    it('the holder answers while the lease is asked for: the claim is given back, nobody fenced, still monitoring', () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      run.feed(batch(196 * MS, 1));
      expect(run.state.phase).to.equal('monitor');
      expect(run.state.fence.status).to.equal('idle');
      expect(run.state.lease.status).to.equal('none');
      expect(run.last).to.deep.include({ type: 'lease-release' });
      expect(run.last).to.deep.include({ type: 'cancel-timer', timer: 'lease-timeout' });
      expect(run.last.some((a) => a.type === 'log' && a.event === 'takeover-abandoned')).to.equal(true);
      // A grant that crosses the answer is given back; no fence, no claim.
      run.feed({ type: 'lease', nowUs: 197 * MS, held: true, epoch: 1, detail: 'late' });
      expect(run.state.phase).to.equal('monitor');
      expect(run.actions.some((a) => a.type === 'fence' || (a.type === 'assign' && a.address === 'primary'))).to.equal(
        false,
      );
    });

    it('a claim given up saves the monitor role again, at a new epoch: refused, answered, maintenance', () => {
      const giveUps: Array<[string, (run: ReturnType<typeof leased>) => void]> = [
        [
          'refused',
          (run) => run.feed({ type: 'timer', nowUs: run.timer('lease-timeout') ?? 0, timer: 'lease-timeout' }),
        ],
        ['answered', (run) => run.feed(batch(196 * MS, 1))],
        ['maintenance', (run) => run.feed({ type: 'command', nowUs: 196 * MS, command: 'maintenance-on' })],
      ];
      for (const [how, giveUp] of giveUps) {
        const run = leased();
        miss(run, 3, 160 * MS);
        const claimed = run.state.epoch;
        expect(run.state.role, how).to.equal('primary');
        giveUp(run);
        expect(run.state.phase, how).to.equal('monitor');
        const back = run.last.find((a) => a.type === 'persist');
        expect(back, how).to.deep.include({ type: 'persist', role: 'monitor', epoch: claimed + 1 });
        expect(indexOf(run.last, 'persist'), how).to.be.below(indexOf(run.last, 'transition'));
        expect(run.state.role, how).to.equal('monitor');
        expect(run.state.epoch, how).to.equal(claimed + 1);
      }
    });

    it("promote: the operator's word fences the holder at once, the claim still waits for the lease", () => {
      const run = leased();
      run.feed({ type: 'command', nowUs: 200 * MS, command: 'promote' });
      expect(run.find('fence')).to.deep.include({ type: 'fence', target: 'a', detached: true });
      expect(run.types()).to.include('lease-acquire');
      expect(run.types()).to.not.include('assign');
      expect(run.state.fence.afterLease).to.equal(undefined);
      // Refused, then retried: the fence is not issued a second time.
      run.feed({ type: 'timer', nowUs: run.timer('lease-timeout') ?? 0, timer: 'lease-timeout' });
      const retry = run.timer('fence-retry') ?? 0;
      miss(run, 3, 1300 * MS);
      run.feed({ type: 'timer', nowUs: retry, timer: 'fence-retry' });
      expect(run.types()).to.include('lease-acquire');
      expect(run.types()).to.not.include('fence');
    });

    it('the lease refused while the primary answers again: the backoff ends with nobody fenced', () => {
      const run = leased();
      miss(run, 3, 160 * MS);
      run.feed({ type: 'timer', nowUs: run.timer('lease-timeout') ?? 0, timer: 'lease-timeout' });
      run.feed(batch(1300 * MS, 1));
      expect(run.state.fence.status).to.equal('idle');
      run.feed({ type: 'timer', nowUs: 2000 * MS, timer: 'fence-retry' });
      expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
      expect(run.state.phase).to.equal('monitor');
    });
  });

  it('never fences itself, even if its own MAC shows up as the holder', () => {
    const run = monitoring();
    run.feed({ type: 'holder', nowUs: 155 * MS, mac: '02:00:00:00:00:0b' });
    miss(run, 3, 160 * MS);
    expect(run.actions.some((a) => a.type === 'fence' && a.target === 'b')).to.equal(false);
  });

  it('[0013] after a successful fence, confirms the primary address is silent, then takes over', () => {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'power off confirmed' });
    expect(run.state.phase).to.equal('confirming');
    expect(run.find('check')).to.deep.include({ type: 'check', address: 'primary', windowUs: 10 * MS });
    expect(run.types()).to.not.include('assign');
    run.feed({
      type: 'check-result',
      nowUs: 310 * MS,
      startedUs: 310 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    const acts = run.last;
    const persist = indexOf(acts, 'persist');
    const assign = indexOf(acts, 'assign', (a) => a.type === 'assign' && a.address === 'primary');
    const releaseMonitor = indexOf(acts, 'release', (a) => a.type === 'release' && a.address === 'monitor');
    const powerOn = indexOf(acts, 'power-on');
    expect(persist).to.be.above(-1);
    expect(persist).to.be.below(assign);
    // The monitor address goes after the primary address is claimed and announced.
    expect(releaseMonitor).to.be.above(indexOf(acts, 'announce'));
    expect(powerOn).to.be.above(assign);
    expect(acts[powerOn]).to.deep.equal({ type: 'power-on', target: 'a' });
  });

  it('[0013] if the primary address answers after the fence, does not claim it', () => {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'ok' });
    run.feed({
      type: 'check-result',
      nowUs: 310 * MS,
      startedUs: 310 * MS - 10 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0c'],
    });
    expect(run.state.phase).to.equal('monitor');
    expect(run.types()).to.not.include('assign');
    expect(run.state.probe.misses).to.equal(0);
  });

  it('fencing.required: true — a failed fence means no takeover, retries with growing backoff', () => {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    const delays: number[] = [];
    let now = 300 * MS;
    for (let attempt = 1; attempt <= 5; attempt++) {
      run.feed({ type: 'fence-result', nowUs: now, target: 'a', ok: false, detail: 'bmc of a: off: timeout' });
      expect(run.state.phase).to.equal('monitor');
      expect(run.types()).to.not.include('check');
      expect(run.last.some((a) => a.type === 'log' && a.level === 'error')).to.equal(true);
      const at = run.timer('fence-retry') ?? 0;
      delays.push(at - now);
      run.feed({ type: 'timer', nowUs: at, timer: 'fence-retry' });
      // Each retry is a fence of its own: a new id, and the result it waits for names it.
      expect(run.find('fence')).to.deep.equal({ type: 'fence', id: attempt + 1, target: 'a' });
      expect(run.state.fenceIds).to.deep.equal({ a: attempt + 1 });
      now = at + 50 * MS;
    }
    expect(delays).to.deep.equal([500 * MS, 1000 * MS, 2000 * MS, 4000 * MS, 4000 * MS]);
    expect(run.actions.some((a) => a.type === 'assign' && a.address === 'primary')).to.equal(false);
  });

  it('fencing.required: true — a reply during backoff abandons the fence', () => {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: false, detail: 'timeout' });
    run.feed(batch(311 * MS, 1));
    expect(run.state.fence.status).to.equal('idle');
    expect(run.last).to.deep.include({ type: 'cancel-timer', timer: 'fence-retry' });
  });

  it('fencing.required: false — a failed fence still leads to a confirmed takeover, without power-on', () => {
    const run = monitoring(machine({ fencing: { ...machine().fencing, required: false } }));
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: false, detail: 'timeout' });
    expect(run.state.phase).to.equal('confirming');
    run.feed({
      type: 'check-result',
      nowUs: 310 * MS,
      startedUs: 310 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.types()).to.not.include('power-on');
  });

  it('cycle fencing: takes over without a separate power-on', () => {
    const run = monitoring(machine({ fencing: { ...machine().fencing, powerCycle: 'cycle' } }));
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'cycled' });
    run.feed({
      type: 'check-result',
      nowUs: 310 * MS,
      startedUs: 310 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(run.types()).to.not.include('power-on');
  });

  it('fencing.required: false — holder never seen: no fence; re-enters boot as primary, whose check decides', () => {
    const run = bootTo('monitor', machine({ fencing: { ...machine().fencing, required: false } }));
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'monitor',
      taken: false,
      evidence: [],
    });
    miss(run, 3, 150 * MS);
    expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
    expect(run.types()).to.deep.equal(['release', 'persist', 'reboot']);
    expect(run.find('persist')).to.include({ role: 'primary' });
  });

  it('fencing.required: true — holder never seen: waits out the grace, then fences every other member before claiming', () => {
    const run = bootTo('monitor');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 140 * MS,
      address: 'monitor',
      taken: false,
      evidence: [],
    });
    // Within the grace (a primary may still be booting): misses, but nobody is fenced.
    miss(run, 6, 150 * MS);
    expect(run.actions.some((a) => a.type === 'fence' || a.type === 'reboot')).to.equal(false);
    expect(run.actions.some((a) => a.type === 'log' && a.event === 'no-holder-yet')).to.equal(true);
    // After it: every other member is fenced, and only when all are off is the address claimed.
    miss(run, 1, 150 * MS + 2000 * MS);
    const fences = run.last.filter((a) => a.type === 'fence').map((a) => (a.type === 'fence' ? a.target : ''));
    expect(fences).to.deep.equal(['a', 'c']);
    run.feed({ type: 'fence-result', nowUs: 2300 * MS, target: 'a', ok: true, detail: 'off' });
    expect(run.state.phase).to.equal('monitor');
    run.feed({ type: 'fence-result', nowUs: 2301 * MS, target: 'c', ok: false, detail: 'bmc of c: timeout' });
    expect(run.state.fence.status).to.equal('backoff');
    run.feed({ type: 'timer', nowUs: run.timer('fence-retry') ?? 0, timer: 'fence-retry' });
    // Only the member not yet fenced is fenced again.
    expect(run.last.filter((a) => a.type === 'fence')).to.deep.equal([{ type: 'fence', id: 3, target: 'c' }]);
    run.feed({ type: 'fence-result', nowUs: 3000 * MS, target: 'c', ok: true, detail: 'off' });
    expect(run.state.phase).to.equal('confirming');
    run.feed({
      type: 'check-result',
      nowUs: 3010 * MS,
      startedUs: 3000 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    expect(
      run.last.filter((a) => a.type === 'power-on').map((a) => (a.type === 'power-on' ? a.target : '')),
    ).to.deep.equal(['a', 'c']);
    expect(indexOf(run.last, 'persist')).to.be.lessThan(indexOf(run.last, 'assign'));
  });

  it('a stranger in the ARP entry is an alarm, never the fence target: the member last seen is fenced', () => {
    const run = monitoring();
    run.feed({ type: 'holder', nowUs: 155 * MS, mac: '02:99:99:99:99:99' });
    expect(run.last.some((a) => a.type === 'log' && a.event === 'holder-unknown' && a.level === 'error')).to.equal(
      true,
    );
    miss(run, 3, 160 * MS);
    expect(run.last.filter((a) => a.type === 'fence')).to.deep.equal([{ type: 'fence', id: 1, target: 'a' }]);
  });

  describe("a forged ARP reply repointing the monitor's ARP entry (the fault campaign's finding)", () => {
    const STRANGER = '00:00:5e:00:01:07';
    const pins = (run: Run): Action[] => run.last.filter((a) => a.type === 'pin-neighbor');

    it('the first miss reads the ARP entry; a stranger there is set back to the holder and the misses are not counted', () => {
      const run = monitoring();
      miss(run, 1, 160 * MS);
      expect(run.last.some((a) => a.type === 'lookup-holder')).to.equal(true);
      miss(run, 1, 160 * MS + run.config.probe.intervalUs);
      expect(run.state.probe.misses).to.equal(2);
      run.feed({ type: 'holder', nowUs: 170 * MS, mac: STRANGER });
      expect(pins(run)).to.deep.equal([{ type: 'pin-neighbor', mac: '02:00:00:00:00:0a' }]);
      expect(run.last.some((a) => a.type === 'log' && a.event === 'neighbor-poisoned' && a.level === 'error')).to.equal(
        true,
      );
      expect(run.state.probe.misses).to.equal(0);
      // Two more misses after the repair stay below the window: nobody is fenced.
      miss(run, 2, 171 * MS);
      expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
      run.feed(batch(200 * MS, 1));
      expect(run.state.probe.misses).to.equal(0);
      expect(run.state.probe.repairs).to.equal(0);
    });

    it("a dead primary is still fenced: a member's MAC in the entry is not a repair", () => {
      const run = monitoring();
      miss(run, 1, 160 * MS);
      run.feed({ type: 'holder', nowUs: 161 * MS, mac: '02:00:00:00:00:0A' });
      expect(pins(run)).to.deep.equal([]);
      miss(run, 2, 160 * MS + run.config.probe.intervalUs);
      expect(run.last.filter((a) => a.type === 'fence')).to.deep.equal([{ type: 'fence', id: 1, target: 'a' }]);
    });

    it('a forger who keeps repointing the entry delays the fence by at most MAX_NEIGHBOR_REPAIRS runs', () => {
      const run = monitoring();
      const { intervalUs, timeoutUs, misses } = run.config.probe;
      const windowUs = misses * intervalUs + timeoutUs;
      let t = 160 * MS;
      for (let i = 0; i < MAX_NEIGHBOR_REPAIRS; i++) {
        miss(run, 2, t);
        run.feed({ type: 'holder', nowUs: t + 2 * intervalUs + timeoutUs, mac: STRANGER });
        expect(pins(run)).to.have.length(1);
        t += windowUs + MS;
      }
      miss(run, 2, t);
      run.feed({ type: 'holder', nowUs: t + 2 * intervalUs + timeoutUs, mac: STRANGER });
      expect(pins(run)).to.deep.equal([]);
      expect(run.state.probe.misses).to.equal(2);
      miss(run, 1, t + 2 * intervalUs);
      expect(run.last.filter((a) => a.type === 'fence')).to.deep.equal([{ type: 'fence', id: 1, target: 'a' }]);
    });

    it('a stranger read again while the repair is landing is set back again without using the budget', () => {
      const run = monitoring();
      miss(run, 1, 160 * MS);
      run.feed({ type: 'holder', nowUs: 161 * MS, mac: STRANGER });
      expect(run.state.probe.repairs).to.equal(1);
      miss(run, 1, 160 * MS + run.config.probe.intervalUs);
      run.feed({ type: 'holder', nowUs: 162 * MS, mac: STRANGER });
      expect(pins(run)).to.have.length(1);
      expect(run.state.probe.repairs).to.equal(1);
      expect(run.state.probe.misses).to.equal(0);
    });

    it('no repair without a known holder, nor once the fence has started', () => {
      // A monitor that never heard the primary: in phase monitor, with a miss, holder unknown.
      const fresh = bootTo('monitor');
      fresh.feed({
        type: 'check-result',
        nowUs: 150 * MS,
        startedUs: 140 * MS,
        address: 'monitor',
        taken: false,
        evidence: [],
      });
      expect(fresh.state.phase).to.equal('monitor');
      miss(fresh, 1, 150 * MS);
      expect(fresh.state.probe.holder).to.equal(null);
      fresh.feed({ type: 'holder', nowUs: 151 * MS, mac: STRANGER });
      expect(pins(fresh)).to.deep.equal([]);
      expect(fresh.state.probe.misses).to.equal(1);
      const run = monitoring();
      miss(run, 3, 160 * MS);
      expect(run.last.some((a) => a.type === 'fence')).to.equal(true);
      run.feed({ type: 'holder', nowUs: 200 * MS, mac: STRANGER });
      expect(pins(run)).to.deep.equal([]);
    });
  });

  it('uplink configured: the uplink check runs at the first miss; a silent uplink means no fence', () => {
    const run = monitoring(machine({ uplink: true }));
    miss(run, 1, 160 * MS);
    expect(run.find('check')).to.include({ address: 'uplink' });
    run.feed({
      type: 'check-result',
      nowUs: 175 * MS,
      startedUs: 170 * MS,
      address: 'uplink',
      taken: false,
      evidence: [],
    });
    miss(run, 2, 170 * MS);
    expect(run.actions.some((a) => a.type === 'fence')).to.equal(false);
    expect(run.actions.some((a) => a.type === 'log' && a.event === 'uplink-silent')).to.equal(true);
    expect(run.state.probe.misses).to.equal(0);
  });

  it('uplink configured and heard: the fence follows the last miss at once', () => {
    const run = monitoring(machine({ uplink: true }));
    miss(run, 1, 160 * MS);
    run.feed({
      type: 'check-result',
      nowUs: 175 * MS,
      startedUs: 170 * MS,
      address: 'uplink',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:01'],
    });
    miss(run, 2, 170 * MS);
    expect(run.last.filter((a) => a.type === 'fence')).to.deep.equal([{ type: 'fence', id: 1, target: 'a' }]);
  });
});

describe('role machine: primary duties', () => {
  function primary(overrides = {}): Run {
    const run = bootTo('primary', machine(overrides));
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 150 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    expect(run.state.phase).to.equal('primary');
    return run;
  }

  it('re-announces the primary address every announce.refresh_s', () => {
    const run = primary({ announceRefreshUs: 5_000_000 });
    expect(run.timer('announce-refresh')).to.equal(150 * MS + 5_000_000);
    run.feed({ type: 'timer', nowUs: 150 * MS + 5_000_000, timer: 'announce-refresh' });
    expect(run.types()).to.deep.equal(['announce', 'set-timer']);
  });

  it('health: gives up the primary address after `fails` failed checks in a row, persisting first', () => {
    const run = primary({ health: { intervalUs: 1000 * MS, fails: 3 } });
    let now = 1150 * MS;
    for (let i = 1; i <= 2; i++) {
      run.feed({ type: 'timer', nowUs: now, timer: 'health' });
      expect(run.types()).to.deep.equal(['health-check']);
      run.feed({ type: 'health-result', nowUs: now + 5, ok: false, detail: 'exit 1' });
      expect(run.state.phase).to.equal('primary');
      now += 1000 * MS;
    }
    run.feed({ type: 'health-result', nowUs: now, ok: true, detail: '' });
    expect(run.state.healthFails).to.equal(0);
    for (let i = 1; i <= 3; i++) run.feed({ type: 'health-result', nowUs: now + i, ok: false, detail: 'exit 1' });
    expect(run.state.phase).to.equal('spare');
    const acts = run.last;
    expect(indexOf(acts, 'persist')).to.be.below(indexOf(acts, 'release'));
    expect(acts).to.deep.include({ type: 'release', address: 'primary' });
  });

  it('link down: releases every address; link up: re-enters boot', () => {
    const run = primary();
    run.feed({ type: 'link', nowUs: 200 * MS, up: false });
    expect(run.state.phase).to.equal('link-down');
    expect(run.last).to.deep.include({ type: 'release', address: 'primary' });
    run.feed({ type: 'link', nowUs: 300 * MS, up: true });
    expect(run.types()).to.deep.equal(['reboot']);
  });

  it('a failed persist halts: nothing held, no part taken', () => {
    const run = primary();
    run.feed({ type: 'persist-failed', nowUs: 200 * MS, detail: 'ENOSPC' });
    expect(run.state.phase).to.equal('halted');
    expect(run.last).to.deep.include({ type: 'release', address: 'primary' });
    run.feed(batch(300 * MS, 0, 9));
    expect(run.last).to.deep.equal([]);
  });

  it('a halted server boots again after HALT_RETRY_US, and halts again while the store still fails', () => {
    const run = primary();
    run.feed({ type: 'persist-failed', nowUs: 200 * MS, detail: 'ENOSPC' });
    expect(run.last).to.deep.include({ type: 'set-timer', timer: TIMER.haltRetry, atUs: 200 * MS + HALT_RETRY_US });
    // Any other timer leaves it halted.
    run.feed({ type: 'timer', nowUs: 300 * MS, timer: TIMER.defend });
    expect(run.state.phase).to.equal('halted');
    run.feed({ type: 'timer', nowUs: 200 * MS + HALT_RETRY_US, timer: TIMER.haltRetry });
    expect(run.state.phase).to.equal('booting');
    expect(run.last).to.deep.include({ type: 'reboot', reason: 'retrying after a failed persist' });
    expect(run.last.some((a) => a.type === 'transition' && a.from === 'halted' && a.to === 'booting')).to.equal(true);
    // A stale retry timer after the server left `halted` does nothing.
    run.feed({ type: 'timer', nowUs: 200 * MS + 2 * HALT_RETRY_US, timer: TIMER.haltRetry });
    expect(run.last).to.deep.equal([]);
  });
});

describe('role machine: invariants over every transition list', () => {
  it('what a takeover is about to power off is persisted before the fence, so a restarted monitor powers it on', () => {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    const persist = indexOf(run.last, 'persist');
    const fence = indexOf(run.last, 'fence');
    expect(persist).to.be.at.least(0);
    expect(persist).to.be.lessThan(fence);
    const record = run.last[persist];
    expect(record).to.include({ role: 'monitor' });
    expect(record?.type === 'persist' ? record.poweredOff : []).to.deep.equal(['a']);
    // With when: this boot's clock at the decision, before the off went out.
    // The third miss's batch (the event that decided the fence) came at:
    const decidedUs = 160 * MS + 2 * run.config.probe.intervalUs + run.config.probe.timeoutUs;
    expect(record?.type === 'persist' ? record.poweredOffAt : null).to.deep.equal({
      bootId: 'boot-1',
      atUs: decidedUs,
    });
    const saved = record?.type === 'persist' ? record : null;
    const boot = (bootId: string, nowUs: number): Run => {
      const restarted = new Run(run.config);
      restarted.feed({
        type: 'boot',
        nowUs,
        record: {
          role: 'monitor',
          epoch: saved?.epoch ?? 0,
          reason: saved?.reason ?? '',
          atMs: 0,
          poweredOff: ['a'],
          ...(saved?.poweredOffAt === undefined ? {} : { poweredOffAt: saved.poweredOffAt }),
        },
        linkUp: true,
        bootId,
      });
      return restarted;
    };
    // The monitor dies before its takeover and restarts on the same boot 1 s later: the BMC
    // may still be carrying out the off, so the on waits for the power to read off, up to
    // fencing.power_timeout_ms after the decision.
    const soon = boot('boot-1', 1160 * MS);
    expect(soon.last).to.deep.include({
      type: 'power-on',
      target: 'a',
      waitOffUntilUs: decidedUs + soon.config.fencing.powerTimeoutUs,
    });
    // Restarted on the same boot after that time: at once.
    const late = boot('boot-1', decidedUs + run.config.fencing.powerTimeoutUs);
    expect(late.last).to.deep.include({ type: 'power-on', target: 'a' });
    // On another boot, or an unknown one, the off's time cannot be placed on this boot's
    // clock: the on waits as if the off had just gone, up to fencing.power_timeout_ms from now.
    for (const other of ['boot-2', '']) {
      const rebooted = boot(other, 1160 * MS);
      expect(rebooted.last, other).to.deep.include({
        type: 'power-on',
        target: 'a',
        waitOffUntilUs: 1160 * MS + rebooted.config.fencing.powerTimeoutUs,
      });
    }
    // A record from before the stamp: the same.
    const unstamped = new Run(run.config);
    unstamped.feed({
      type: 'boot',
      nowUs: 1160 * MS,
      record: { role: 'monitor', epoch: saved?.epoch ?? 0, reason: '', atMs: 0, poweredOff: ['a'] },
      linkUp: true,
      bootId: 'boot-1',
    });
    expect(unstamped.last).to.deep.include({
      type: 'power-on',
      target: 'a',
      waitOffUntilUs: 1160 * MS + unstamped.config.fencing.powerTimeoutUs,
    });
  });

  it('every assign is preceded by a persist in the same step, and epochs only grow', () => {
    // Drive a long scripted life: boot, monitor, fence, take over, lose link, reboot.
    const run = monitoring();
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'ok' });
    run.feed({
      type: 'check-result',
      nowUs: 310 * MS,
      startedUs: 310 * MS - 10 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    run.feed({ type: 'link', nowUs: 400 * MS, up: false });
    run.feed({ type: 'link', nowUs: 500 * MS, up: true });
    let lastEpoch = -1;
    let persistedInStep = false;
    for (const a of run.actions) {
      if (a.type === 'transition') persistedInStep = false;
      if (a.type === 'persist') {
        expect(a.epoch).to.be.above(lastEpoch);
        lastEpoch = a.epoch;
        persistedInStep = true;
      }
      if (a.type === 'assign') expect(persistedInStep, 'assign without persist').to.equal(true);
    }
  });
});

describe('role machine: operator commands', () => {
  it('maintenance on: a monitor stops probing, so it never fences; off resumes probing', () => {
    const run = monitoring();
    run.feed({ type: 'command', nowUs: 155 * MS, command: 'maintenance-on' });
    expect(run.state.maintenance).to.equal(true);
    expect(run.last).to.deep.include({ type: 'probe-stop' });
    miss(run, 5, 160 * MS);
    expect(run.types()).to.deep.equal([]);
    expect(run.state.probe.misses).to.equal(0);
    expect(run.state.phase).to.equal('monitor');
    run.feed({ type: 'command', nowUs: 500 * MS, command: 'maintenance-off' });
    expect(run.find('probe-start')).to.deep.equal({ type: 'probe-start', atUs: 500 * MS });
  });

  it('demote: a primary persists spare, then releases the primary address', () => {
    const run = bootTo('primary');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 100 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    run.feed({ type: 'command', nowUs: 200 * MS, command: 'demote' });
    expect(run.state.phase).to.equal('spare');
    const acts = run.last;
    expect(indexOf(acts, 'persist')).to.be.below(indexOf(acts, 'release'));
    expect(acts).to.deep.include({ type: 'release', address: 'primary' });
  });

  it('demote on a monitor is refused and changes nothing', () => {
    const run = monitoring();
    const before = run.state;
    run.feed({ type: 'command', nowUs: 200 * MS, command: 'demote' });
    expect(run.state).to.equal(before);
    expect(run.types()).to.deep.equal([]);
  });

  it('promote: a monitor fences the holder at once, then goes the normal way (confirm, claim)', () => {
    const run = monitoring();
    run.feed({ type: 'command', nowUs: 200 * MS, command: 'promote' });
    expect(run.find('fence')).to.deep.equal({ type: 'fence', id: 1, target: 'a' });
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'ok' });
    expect(run.state.phase).to.equal('confirming');
  });

  it('promote: a spare persists monitor and reboots into the monitor boot check', () => {
    const run = bootTo('spare');
    run.feed({ type: 'command', nowUs: 200 * MS, command: 'promote' });
    expect(run.types()).to.deep.equal(['cancel-timer', 'persist', 'reboot']);
    expect(run.find('persist')).to.include({ role: 'monitor' });
  });
});

/** The [0013] check after a confirmed fence finds the primary address silent, at 320 ms. */
function confirmSilent(run: Run): void {
  run.feed({
    type: 'check-result',
    nowUs: 320 * MS,
    startedUs: 310 * MS,
    address: 'primary',
    taken: false,
    evidence: [],
  });
}

describe('role machine: giving addresses up and powering fenced servers back (issue 11, 12)', () => {
  function primary(): Run {
    const run = bootTo('primary');
    run.feed({
      type: 'check-result',
      nowUs: 150 * MS,
      startedUs: 140 * MS,
      address: 'primary',
      taken: false,
      evidence: [],
    });
    return run;
  }

  /** A monitor that fenced `a` and is confirming. */
  function confirming(): Run {
    const run = monitoring();
    miss(run, 3, 160 * MS);
    run.feed({ type: 'fence-result', nowUs: 300 * MS, target: 'a', ok: true, detail: 'off' });
    expect(run.state.phase).to.equal('confirming');
    return run;
  }

  it('a primary whose link goes down runs on_spare after releasing', () => {
    const run = primary();
    run.feed({ type: 'link', nowUs: 500 * MS, up: false });
    expect(run.last).to.deep.include({ type: 'hook', hook: 'on_spare' });
    expect(indexOf(run.last, 'release')).to.be.lessThan(indexOf(run.last, 'hook'));
  });

  it('a halted primary (persist failed) runs on_spare', () => {
    const run = primary();
    run.feed({ type: 'persist-failed', nowUs: 500 * MS, detail: 'ENOSPC' });
    expect(run.last).to.deep.include({ type: 'hook', hook: 'on_spare' });
    expect(run.state.phase).to.equal('halted');
  });

  it('an aborted confirmation powers the fenced server on again', () => {
    const run = confirming();
    run.feed({
      type: 'check-result',
      nowUs: 320 * MS,
      startedUs: 310 * MS,
      address: 'primary',
      taken: true,
      evidence: ['arp-reply 02:00:00:00:00:0c'],
    });
    expect(run.state.phase).to.equal('monitor');
    expect(run.last).to.deep.include({ type: 'power-on', target: 'a' });
  });

  it('the takeover persists whom it powered off; a failed persist powers them on again', () => {
    const run = confirming();
    confirmSilent(run);
    expect(run.find('persist')).to.deep.include({ role: 'primary', poweredOff: ['a'] });
    run.feed({ type: 'persist-failed', nowUs: 325 * MS, detail: 'ENOSPC' });
    expect(run.last.find((a) => a.type === 'power-on')).to.deep.include({ type: 'power-on', target: 'a' });
    expect(run.state.phase).to.equal('halted');
  });

  it('a confirmed power-on takes the member off the record (a new epoch), so a later restart neither powers it on nor waits for its off', () => {
    const run = confirming();
    confirmSilent(run);
    expect(run.state.phase).to.equal('primary');
    expect(run.state.poweredOff).to.deep.equal(['a']);
    const epoch = run.state.epoch;
    run.feed({ type: 'powered-on', nowUs: 2000 * MS, target: 'a' });
    const saved = run.last.find((a) => a.type === 'persist');
    expect(saved).to.deep.include({ type: 'persist', role: 'primary', epoch: epoch + 1 });
    expect(saved?.type === 'persist' ? saved.poweredOff : 'absent').to.equal(undefined);
    expect(run.state.poweredOff).to.deep.equal([]);
    expect(run.state.epoch).to.equal(epoch + 1);
    // A member not (or no longer) in the record: nothing to save.
    run.feed({ type: 'powered-on', nowUs: 2100 * MS, target: 'a' });
    expect(run.last).to.deep.equal([]);
  });

  it('a failed assign re-enters boot, gives the address up and powers the fenced server on', () => {
    const run = confirming();
    confirmSilent(run);
    run.feed({ type: 'assign-failed', nowUs: 321 * MS, address: 'primary', detail: 'RTNETLINK answers: File exists' });
    expect(run.state.phase).to.equal('booting');
    expect(run.last).to.deep.include({ type: 'release', address: 'primary' });
    // The off was decided moments ago: the on waits for the power to read off first.
    const on = run.last.find((a) => a.type === 'power-on');
    expect(on).to.deep.include({ type: 'power-on', target: 'a' });
    expect(on?.type === 'power-on' ? on.waitOffUntilUs : undefined).to.be.above(321 * MS);
    expect(run.last).to.deep.include({ type: 'hook', hook: 'on_spare' });
    expect(run.types().at(-1)).to.equal('reboot');
  });

  it('an agent restarted after a takeover powers on whom its record says it left off', () => {
    const run = new Run(machine());
    run.feed({
      type: 'boot',
      nowUs: 60_000 * MS,
      // Fenced on this boot, longer ago than fencing.power_timeout_ms: the offs are done.
      record: { ...record('primary'), poweredOff: ['a', 'c'], poweredOffAt: { bootId: 'boot-1', atUs: 0 } },
      linkUp: true,
      bootId: 'boot-1',
    });
    expect(run.last.filter((a) => a.type === 'power-on')).to.deep.equal([
      { type: 'power-on', target: 'a' },
      { type: 'power-on', target: 'c' },
    ]);
  });
});
