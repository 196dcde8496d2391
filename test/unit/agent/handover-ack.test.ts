/**
 * HandoverAck on a virtual clock: which heartbeat acknowledges a step down, its limit, and a
 * wait ended without a word (the agent stopped, or primary again).
 */
import { expect } from 'chai';
import { VirtualClock } from '../../../hal/clock/sim.js';
import type { ExecutorContext } from '../../../src/agent/context.js';
import { newCounters } from '../../../src/agent/context.js';
import { HandoverAck } from '../../../src/agent/handover-ack.js';
import { initialState } from '../../../src/role/index.js';
import { machine, MS } from '../role/fixtures.js';

function rig(finalSyncUs = 0): { clock: VirtualClock; ack: HandoverAck; lines: string[] } {
  const clock = new VirtualClock();
  const lines: string[] = [];
  const x: ExecutorContext = {
    ports: { clock } as unknown as ExecutorContext['ports'],
    mc: machine({ finalSyncUs }),
    primaryIp: '198.18.0.10',
    counters: newCounters(),
    now: () => clock.nowUs(),
    log: (level, event, text) => void lines.push(`${level} ${event}: ${text}`),
    dispatch: () => ({ state: initialState(1), actions: [] }),
    state: () => initialState(1),
    stopped: () => false,
  };
  return { clock, ack: new HandoverAck(x), lines };
}

describe('HandoverAck: the acknowledgement of a step down', () => {
  it('is a member holding the primary address above the epoch this server held it at', async () => {
    const r = rig();
    r.ack.start(5);
    const outcome = r.ack.since(0);
    await r.clock.runUntil(30 * MS);
    r.ack.onPeer('c', 9, false); // not holding it
    r.ack.onPeer('b', 5, true); // at the old epoch: a stale view
    await r.clock.runUntil(60 * MS);
    r.ack.onPeer('b', 6, true);
    expect(await outcome).to.deep.equal({ taker: 'b', epoch: 6, afterMs: 60 });
    expect(r.lines).to.deep.equal([
      'info handover-acked: b holds the primary address at epoch 6, 60 ms after this server stepped down',
    ]);
  });

  it('none by the monitor’s windows, the final sync and 1 s (at most 3 s): handover-unacked, an error', async () => {
    // The fixture machine: detection 40 ms, confirm 10 ms.
    const r = rig();
    r.ack.start(5);
    const outcome = r.ack.since(0);
    await r.clock.runUntil(5000 * MS);
    expect(await outcome).to.deep.equal({ taker: null, epoch: null, afterMs: 1050 });
    expect(r.lines.map((l) => l.split(':')[0])).to.deep.equal(['error handover-unacked']);
    const long = rig(2500 * MS);
    long.ack.start(5);
    const capped = long.ack.since(0);
    await long.clock.runUntil(5000 * MS);
    expect((await capped)?.afterMs).to.equal(3000);
  });

  it('stopped (the agent ended, or primary again): ends without a log line; a later heartbeat changes nothing', async () => {
    const r = rig();
    r.ack.start(5);
    const outcome = r.ack.since(0);
    await r.clock.runUntil(20 * MS);
    r.ack.stop();
    r.ack.onPeer('b', 6, true);
    await r.clock.runUntil(5000 * MS);
    expect(await outcome).to.deep.equal({ taker: null, epoch: null, afterMs: 20 });
    expect(r.lines).to.deep.equal([]);
  });

  it('since(): only a step down begun at or after the time asked about', async () => {
    const r = rig();
    expect(r.ack.since(0)).to.equal(null);
    await r.clock.runUntil(100 * MS);
    r.ack.start(5);
    expect(r.ack.since(100 * MS)).to.not.equal(null);
    expect(r.ack.since(101 * MS)).to.equal(null);
  });
});
