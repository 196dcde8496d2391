/**
 * The campaign's schedule and checkers on hand-made records (no lab): the same seed gives the
 * same schedule, and each checker finds what it is there to find.
 */
import { expect } from 'chai';
import { checkSync, checkTakeovers, outages, runChecks } from '../../../scripts/soak/checks.js';
import type { AgentEvent, CampaignRecord, FaultRecord } from '../../../scripts/soak/records.js';
import { SOAK_FAULT_KINDS, makeSchedule } from '../../../scripts/soak/schedule.js';
import { isolatedSince } from '../../../scripts/soak/injectors.js';
import type { AgentLine } from '../../../scripts/lab/cluster.js';

const S = 1_000_000;

function record(change: Partial<CampaignRecord> = {}): CampaignRecord {
  return {
    seed: 1,
    gate: 'confirmed',
    plan: { faults: 0, durationMs: 60_000, meanGapMs: 1600 },
    gateInConfig: false,
    startUs: 0,
    endUs: 60 * S,
    startedAt: '2026-12-02T00:00:00.000Z',
    servers: ['a', 'b', 'c'],
    observerIntervalMs: 5,
    faults: [],
    holders: [],
    writes: [],
    files: [],
    eras: [],
    agentEvents: [],
    power: [],
    primaryAddress: [{ server: 'a', atUs: 1, added: true }],
    splitBrain: [],
    replies: [],
    agentExits: [],
    anomalies: [],
    config: {},
    ...change,
  };
}

function transition(server: string, atUs: number, message: string): AgentEvent {
  return { server, atUs, event: 'transition', level: 'info', message };
}

describe('soak: schedule', () => {
  it('is the same for the same seed, differs for another, and holds every kind of fault', () => {
    const one = makeSchedule({ seed: 7, count: 1000, meanGapMs: 1600 });
    expect(makeSchedule({ seed: 7, count: 1000, meanGapMs: 1600 })).to.deep.equal(one);
    expect(makeSchedule({ seed: 8, count: 1000, meanGapMs: 1600 })).to.not.deep.equal(one);
    expect(new Set(one.map((f) => f.kind))).to.deep.equal(new Set(SOAK_FAULT_KINDS));
    const gaps = one.slice(1).map((f, i) => f.atMs - (one[i]?.atMs ?? 0));
    expect(Math.min(...gaps)).to.be.at.least(100);
    const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    expect(meanGap).to.be.within(1300, 1900);
  });
});

describe('soak: takeover check (confirmed gate)', () => {
  const fencedTakeover = [
    transition(
      'b',
      10 * S,
      'monitor -> confirming: fenced a (power off confirmed 20 ms after power off); confirming the primary address',
    ),
    transition('b', 10 * S + 20_000, 'confirming -> primary: took over from a after fencing it'),
  ];
  const claimByB = [
    { server: 'a', atUs: 1, added: true },
    { server: 'a', atUs: 9.5 * S, added: false },
    { server: 'b', atUs: 10 * S + 15_000, added: true },
  ];

  it('passes a takeover after a fence the power log confirms', () => {
    const checks = checkTakeovers(
      record({
        agentEvents: [
          { server: 'b', atUs: 9.99 * S, event: 'fence-done', level: 'warn', message: 'fenced a: ok', target: 'a' },
          ...fencedTakeover,
        ].sort((x, y) => x.atUs - y.atUs),
        power: [{ server: 'a', on: false, source: 'bmc', doneUs: 9.98 * S, commandUs: 9.97 * S }],
        primaryAddress: claimByB,
      }),
    );
    expect(checks.map((c) => c.problems)).to.deep.equal([[]]);
    expect(checks[0]?.basis).to.equal('fence');
  });

  it('flags a takeover whose fence is not in the log, or whose target the power log has on', () => {
    const noFence = checkTakeovers(record({ agentEvents: fencedTakeover, primaryAddress: claimByB }));
    expect(noFence[0]?.problems).to.deep.equal(['no fence-done for a before the takeover']);
    const stillOn = checkTakeovers(
      record({
        agentEvents: [
          { server: 'b', atUs: 9.99 * S, event: 'fence-done', level: 'warn', message: 'fenced a: ok', target: 'a' },
          ...fencedTakeover,
        ].sort((x, y) => x.atUs - y.atUs),
        primaryAddress: claimByB,
      }),
    );
    expect(stillOn[0]?.problems).to.deep.equal(['a was powered when its fence was reported done']);
  });

  it('flags a takeover beside a powered server that still holds the address, and a basis the gate does not accept', () => {
    const checks = checkTakeovers(
      record({
        agentEvents: [
          transition('b', 10 * S, 'monitor -> confirming: fence of a failed, fencing not required'),
          transition('b', 10 * S + 20_000, 'confirming -> primary: took over'),
        ],
        primaryAddress: [
          { server: 'a', atUs: 1, added: true },
          { server: 'b', atUs: 10 * S + 15_000, added: true },
        ],
      }),
    );
    expect(checks[0]?.problems).to.deep.equal([
      'basis none is not accepted by the confirmed gate',
      'a (powered) held the primary address in its kernel when b took over',
    ]);
  });
});

describe('soak: takeover check with every other member heard as a spare (no fence)', () => {
  // The wording of src/role/fence-steps.ts: no holder ever seen, a and b heard as spares
  // holding nothing, so c fences nobody and claims after [0013].
  const decision: AgentEvent = {
    server: 'c',
    atUs: 10 * S,
    event: 'primary-down-unknown-holder',
    level: 'warn',
    message:
      'no reply from the primary address in 5 probes; the primary address was no member was seen holding it, and every other member (a, b) is heard as a spare holding nothing: no fence',
  };
  const takeover = [
    decision,
    transition(
      'c',
      10 * S,
      'monitor -> confirming: every other member is a spare holding nothing; confirming the primary address is silent',
    ),
    transition('c', 10 * S + 300_000, 'confirming -> primary: claimed the primary address'),
  ];
  const claimByC = [{ server: 'c', atUs: 10 * S + 290_000, added: true }];

  it('passes when neither excused spare held the primary address from the decision to the claim', () => {
    const checks = checkTakeovers(record({ agentEvents: takeover, primaryAddress: claimByC }));
    expect(checks[0]?.basis).to.equal('spares');
    expect(checks[0]?.subjects).to.deep.equal(['a', 'b']);
    expect(checks.map((c) => c.problems)).to.deep.equal([[]]);
  });

  it('flags an excused spare that still held it at the decision and dropped it before the claim', () => {
    const checks = checkTakeovers(
      record({
        agentEvents: takeover,
        primaryAddress: [
          { server: 'a', atUs: 5 * S, added: true },
          { server: 'a', atUs: 10 * S + 50_000, added: false },
          ...claimByC,
        ],
      }),
    );
    expect(checks[0]?.problems).to.deep.equal([
      'a, excused as a spare holding nothing, held the primary address before c took over',
    ]);
  });

  it('flags an excused spare that held it meanwhile, a decision that names nobody, and the lease gate', () => {
    const heldMeanwhile = checkTakeovers(
      record({
        agentEvents: takeover,
        primaryAddress: [
          { server: 'b', atUs: 10 * S + 100_000, added: true },
          { server: 'b', atUs: 10 * S + 150_000, added: false },
          ...claimByC,
        ],
      }),
    );
    expect(heldMeanwhile[0]?.problems).to.deep.equal([
      'b, excused as a spare holding nothing, held the primary address before c took over',
    ]);
    const unnamed = checkTakeovers(record({ agentEvents: takeover.slice(1), primaryAddress: claimByC }));
    expect(unnamed[0]?.problems).to.deep.equal(['no primary-down-unknown-holder event names the excused spares']);
    const lease = checkTakeovers(record({ gate: 'lease', agentEvents: takeover, primaryAddress: claimByC }));
    expect(lease[0]?.problems).to.deep.equal(['basis spares is not accepted by the lease gate']);
  });
});

describe('soak: takeover check (isolated gate)', () => {
  const isolatedTakeover = [
    transition(
      'b',
      10 * S,
      'monitor -> confirming: fenced a (cut off at switch 198.18.0.1:161 ifIndex 5, read back in 35.6 ms; power-off continues); confirming the primary address is silent',
    ),
    transition('b', 10 * S + 20_000, 'confirming -> primary: took over from a after fencing it'),
  ];
  // a keeps the address in its kernel (cut off, still powered); b claims.
  const claimBesideA = [
    { server: 'a', atUs: 1, added: true },
    { server: 'b', atUs: 10 * S + 15_000, added: true },
  ];

  it('passes a claim beside a powered, cut-off holder: its link is not usable', () => {
    const checks = checkTakeovers(
      record({ gate: 'isolated', agentEvents: isolatedTakeover, primaryAddress: claimBesideA }),
    );
    expect(checks[0]?.basis).to.equal('isolation');
    expect(checks[0]?.subjects).to.deep.equal(['a']);
    expect(checks.map((c) => c.problems)).to.deep.equal([[]]);
  });

  it('flags a claim while the isolated holder was still on a usable link', () => {
    const checks = checkTakeovers(
      record({
        gate: 'isolated',
        agentEvents: isolatedTakeover,
        primaryAddress: claimBesideA,
        splitBrain: [{ startUs: 10 * S + 15_000, endUs: 11 * S, servers: ['a', 'b'] }],
      }),
    );
    expect(checks[0]?.problems).to.deep.equal([
      'a held the primary address on a usable link when b took over after its isolation',
    ]);
  });
});

describe('soak: takeover check beside an older holder another member cut off (isolated gate)', () => {
  // The campaign's 11:54.2: a cut b off (b frozen, its BMC 4 s slow) and took over; c fenced
  // a by power and took over while b, still powered, held the address behind its cut port.
  const cutB = {
    server: 'a',
    atUs: 5 * S,
    event: 'fence-done',
    level: 'warn',
    message: 'fenced b: cut off at switch 198.18.0.1:161 ifIndex 3, read back in 109.3 ms; power-off continues',
    target: 'b',
  };
  const cTakesOver = [
    {
      server: 'c',
      atUs: 9.99 * S,
      event: 'fence-done',
      level: 'warn',
      message: 'fenced a: power off confirmed',
      target: 'a',
    },
    transition(
      'c',
      10 * S,
      'monitor -> confirming: fenced a (power off confirmed 74.0 ms after power off); confirming the primary address is silent',
    ),
    transition('c', 10 * S + 30_000, 'confirming -> primary: took over from a after fencing it'),
  ];
  const aOff = {
    server: 'a',
    on: false,
    source: 'bmc' as const,
    requestedUs: 9.97 * S,
    doneUs: 9.98 * S,
    commandUs: 9.96 * S,
  };
  const addresses = [
    { server: 'b', atUs: 1, added: true },
    { server: 'a', atUs: 5 * S + 30_000, added: true },
    { server: 'a', atUs: 9.97 * S, added: false },
    { server: 'c', atUs: 10 * S + 20_000, added: true },
  ];
  const base = (change: Partial<CampaignRecord>): CampaignRecord =>
    record({
      gate: 'isolated',
      agentEvents: [cutB, ...cTakesOver],
      power: [aOff],
      primaryAddress: addresses,
      ...change,
    });

  it('passes while b stays cut off and off any usable link', () => {
    expect(checkTakeovers(base({})).map((c) => c.problems)).to.deep.equal([[]]);
  });

  it('flags it without the cut, after a power change of b since the cut, under gate confirmed, or with b on a usable link', () => {
    const powered = 'b (powered) held the primary address in its kernel when c took over';
    expect(checkTakeovers(base({ agentEvents: cTakesOver }))[0]?.problems).to.deep.equal([powered]);
    const cycled = base({
      power: [
        aOff,
        { server: 'b', on: false, source: 'bmc', doneUs: 6 * S, commandUs: 5 * S },
        { server: 'b', on: true, source: 'bmc', doneUs: 7 * S, commandUs: 7 * S },
      ],
      primaryAddress: [...addresses, { server: 'b', atUs: 8 * S, added: true }].sort((x, y) => x.atUs - y.atUs),
    });
    expect(checkTakeovers(cycled)[0]?.problems).to.deep.equal([powered]);
    expect(checkTakeovers(base({ gate: 'confirmed' }))[0]?.problems).to.deep.equal([powered]);
    expect(
      checkTakeovers(base({ splitBrain: [{ startUs: 10 * S + 20_000, endUs: 11 * S, servers: ['b', 'c'] }] }))[0]
        ?.problems,
    ).to.deep.equal(['b held the primary address on a usable link when c took over after its isolation']);
  });
});

describe('soak: replicated files check', () => {
  it('counts acknowledged versions a new primary lacks, and the unsynced writes of the loss window', () => {
    const r = record({
      writes: [
        { file: 'f0.dat', version: 1, server: 'a', atUs: 1 * S, ok: true },
        { file: 'f0.dat', version: 2, server: 'a', atUs: 2 * S, ok: true },
        { file: 'f0.dat', version: 3, server: 'a', atUs: 3 * S, ok: true },
      ],
      // v1 reached b, v2 reached c (c was monitor after b), v3 reached nobody; a copy on a
      // spare (c before it was monitor) is no acknowledgement.
      holders: [
        { atUs: 0, primaryUp: ['a'], monitorUp: ['b'], primary: ['a'], powered: ['a', 'b', 'c'] },
        { atUs: 2 * S, primaryUp: ['a'], monitorUp: ['c'], primary: ['a'], powered: ['a', 'b', 'c'] },
      ],
      files: [
        { atUs: 1.2 * S, server: 'b', file: 'f0.dat', version: 1 },
        { atUs: 1.9 * S, server: 'c', file: 'f0.dat', version: 1 },
        { atUs: 2.2 * S, server: 'c', file: 'f0.dat', version: 2 },
      ],
      eras: [
        { atUs: 0.5 * S, server: 'a', versions: { 'f0.dat': null } },
        { atUs: 4 * S, server: 'b', versions: { 'f0.dat': 1 } },
      ],
      primaryAddress: [
        { server: 'a', atUs: 1, added: true },
        { server: 'b', atUs: 3.8 * S, added: true },
      ],
      agentEvents: [transition('b', 0.9 * S, 'booting -> monitor: ok')],
    });
    const sync = checkSync(r);
    expect(sync.lost).to.deep.equal([{ server: 'b', atUs: 4 * S, file: 'f0.dat', versions: [2], neverSynced: true }]);
    expect(sync.lostVersionsAfterSync).to.equal(0);
    expect(sync.windows).to.deep.equal([{ server: 'b', atUs: 4 * S, unsyncedWrites: 1, windowMs: 800 }]);
  });
});

describe('soak: availability', () => {
  it('counts gaps in the observer replies over 50 ms as outages, the open end included', () => {
    const replies = [1, 1.005, 1.01, 2.01, 2.015].map((s) => ({ t: s * S, server: 'a' }));
    const list = outages(record({ replies, endUs: 3 * S }));
    expect(list.map((o) => Math.round(o.ms))).to.deep.equal([1000, 1000, 985]);
    const checks = runChecks(record({ replies, endUs: 3 * S }));
    expect(checks.availability.longestMs).to.equal(1000);
  });
});

describe('soak: a link flap leaves a port an agent cut off meanwhile to the fence', () => {
  const line = (atUs: number, message: string, event = 'fence-done'): AgentLine => ({
    event,
    message,
    level: 'warn',
    atUs,
  });

  it('sees an isolating fence of the flapped server since the flap began, and nothing else', () => {
    const lines = [
      line(1 * S, 'fenced c: cut off at switch 198.18.0.1:161 ifIndex 5, read back in 12.0 ms; power-off continues'),
      line(3 * S, 'fenced b: cut off at switch 198.18.0.1:161 ifIndex 3, read back in 20.5 ms; power-off continues'),
      line(4 * S, 'fenced a: power off confirmed 24.2 ms after power off'),
      line(5 * S, 'fenced a: cut off at switch 198.18.0.1:161 ifIndex 4', 'transition'),
    ];
    expect(isolatedSince(lines, 'b', 2 * S)).to.equal(true);
    expect(isolatedSince(lines, 'c', 2 * S), 'a cut before the flap began').to.equal(false);
    expect(isolatedSince(lines, 'a', 2 * S), 'a power fence, or no fence-done').to.equal(false);
  });

  it("reads today's lines: the target field and the fence id in the message", () => {
    const lines: AgentLine[] = [
      {
        ...line(3 * S, 'fenced b (fence 4): cut off at switch 198.18.0.1:161 ifIndex 3, read back in 20.5 ms'),
        target: 'b',
        fenceId: 4,
      },
      { ...line(4 * S, 'fenced a (fence 5): power off confirmed 24.2 ms after power off'), target: 'a', fenceId: 5 },
    ];
    expect(isolatedSince(lines, 'b', 2 * S)).to.equal(true);
    expect(isolatedSince(lines, 'a', 2 * S), 'a power fence').to.equal(false);
  });
});

describe('soak: forged ARP followed by a monitor confirming a failure', () => {
  function forged(id: number, atUs: number): FaultRecord {
    return {
      id,
      kind: 'forged-arp',
      want: null,
      target: null,
      targetRole: null,
      params: { macLow: 7 },
      plannedAtMs: atUs / 1000,
      status: 'done',
      detail: '',
      startUs: atUs,
      appliedUs: atUs,
      endUs: atUs + 2 * S,
    };
  }
  const confirming = (server: string, atUs: number): AgentEvent => ({
    ...transition(server, atUs, 'monitor -> confirming'),
    from: 'monitor',
    to: 'confirming',
  });

  it('counts a detection within the window after a forged ARP, not one before or long after', () => {
    const checks = runChecks(
      record({
        faults: [forged(1, 10 * S), forged(2, 20 * S), forged(3, 30 * S)],
        agentEvents: [confirming('c', 10 * S + 95_000), confirming('b', 20 * S - 1000), confirming('b', 31 * S)],
      }),
    );
    expect(checks.forgedArp.faults).to.equal(3);
    expect(checks.forgedArp.followed).to.deep.equal([{ fault: 1, server: 'c', afterMs: 95 }]);
    // 3 detections in 60 s, a 300 ms window, 3 forged ARPs.
    expect(checks.forgedArp.byChance).to.be.closeTo(0.045, 1e-9);
  });
});

describe('soak: versions lost after a sync as monitor', () => {
  // a writes v1 and v2; b, monitor, syncs and sees them; c claims the address.
  const base = (cEvents: AgentEvent[]): CampaignRecord =>
    record({
      writes: [
        { file: 'f0.dat', version: 1, server: 'a', atUs: 1 * S, ok: true },
        { file: 'f0.dat', version: 2, server: 'a', atUs: 2 * S, ok: true },
      ],
      holders: [{ atUs: 0, primaryUp: ['a'], monitorUp: ['b'], primary: ['a'], powered: ['a', 'b', 'c'] }],
      files: [
        { atUs: 1.2 * S, server: 'b', file: 'f0.dat', version: 1 },
        { atUs: 2.2 * S, server: 'b', file: 'f0.dat', version: 2 },
      ],
      eras: [
        { atUs: 0.5 * S, server: 'a', versions: { 'f0.dat': null } },
        { atUs: 4 * S, server: 'c', versions: { 'f0.dat': null } },
        { atUs: 6 * S, server: 'a', versions: { 'f0.dat': null } },
      ],
      primaryAddress: [
        { server: 'a', atUs: 1, added: true },
        { server: 'c', atUs: 3.9 * S, added: true },
        { server: 'a', atUs: 5.9 * S, added: true },
      ],
      agentEvents: [
        ...cEvents,
        transition('a', 5 * S, 'booting -> monitor: ok'),
        { server: 'a', atUs: 5.5 * S, event: 'synced', level: 'info', message: 'synced' },
      ],
    });
  const synced: AgentEvent = { server: 'c', atUs: 0.8 * S, event: 'synced', level: 'info', message: 'synced' };

  it('a monitor that synced in an earlier term and claimed at a fresh boot is the known limit', () => {
    const sync = checkSync(
      base([
        transition('c', 0.5 * S, 'booting -> monitor: ok'),
        synced,
        transition('c', 3 * S, 'monitor -> booting: power'),
      ]),
    );
    expect(sync.lostVersions).to.be.greaterThan(0);
    expect(sync.lostVersionsAfterSync).to.equal(0);
  });

  it('a monitor that synced in the term it took over in counts, each version once', () => {
    const sync = checkSync(base([transition('c', 0.5 * S, 'booting -> monitor: ok'), synced]));
    // v1 and v2 are lost at c's claim, and again on a (which synced from c): counted once.
    expect(sync.lost.map((l) => l.versions)).to.deep.equal([
      [1, 2],
      [1, 2],
    ]);
    expect(sync.lostVersionsAfterSync).to.equal(2);
  });
});
