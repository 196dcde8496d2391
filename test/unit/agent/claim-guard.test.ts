/**
 * ClaimGuard with a scripted watch: what stands against a claim's assignment, and what does not.
 */
import { expect } from 'chai';
import type { ConflictWatch } from '../../../hal/nic/index.js';
import { ClaimGuard } from '../../../src/agent/claim-guard.js';
import type { ExecutorContext } from '../../../src/agent/context.js';
import { newCounters } from '../../../src/agent/context.js';
import { initialState } from '../../../src/role/index.js';
import { machine } from '../role/fixtures.js';

const MEMBER_A = '02:00:00:00:00:0a';
const STRANGER = '02:00:00:00:99:99';

interface Scripted {
  guard: ClaimGuard;
  lines: string[];
  /** What the watch reports next (as the NIC's onSeen). */
  hear(evidence: string): void;
  /** The watch ends by its own limit (or breaks, with a reason). */
  endOwn(broken?: string): void;
  ended: number;
  started: number;
}

function rig(canWatch = true): Scripted {
  const lines: string[] = [];
  let onSeen: (e: string) => void = () => undefined;
  let settle: (error?: Error) => void = () => undefined;
  const s: Scripted = {
    guard: undefined as unknown as ClaimGuard,
    lines,
    hear: (e) => onSeen(e),
    endOwn: (broken) => settle(broken === undefined ? undefined : new Error(broken)),
    ended: 0,
    started: 0,
  };
  const nic = {
    watchConflict: (_address: string, _i: number, _l: number, seen: (e: string) => void): ConflictWatch | null => {
      if (!canWatch) return null;
      s.started += 1;
      onSeen = seen;
      const ended = new Promise<void>((resolve, reject) => {
        settle = (error) => (error === undefined ? resolve() : reject(error));
      });
      ended.catch(() => undefined);
      return {
        end: () => {
          s.ended += 1;
          settle();
        },
        ended,
      };
    },
  };
  const x: ExecutorContext = {
    ports: { nic } as unknown as ExecutorContext['ports'],
    mc: machine(),
    primaryIp: '198.18.0.10',
    counters: newCounters(),
    now: () => 0,
    log: (level, event, text) => void lines.push(`${level} ${event}: ${text}`),
    dispatch: () => ({ state: initialState(1), actions: [] }),
    state: () => initialState(1),
    stopped: () => false,
  };
  s.guard = new ClaimGuard(x);
  return s;
}

describe('ClaimGuard: the gap between a silent boot check and its assignment', () => {
  it('a member that used the address in the gap stands against the claim; the watch is ended', async () => {
    const r = rig();
    r.guard.start('primary', '198.18.0.10/24', 50_000);
    r.hear(`arp-reply ${MEMBER_A}`);
    expect(await r.guard.take('primary')).to.equal(`another member used it after our check (arp-reply ${MEMBER_A})`);
    expect(r.ended).to.equal(1);
    // Taken once: a second assignment has no guard.
    expect(await r.guard.take('primary')).to.equal(null);
  });

  it("a member's probe, a stranger's reply, or nothing heard: the claim goes on (the stranger is an alarm)", async () => {
    const r = rig();
    r.guard.start('primary', '198.18.0.10/24', 50_000);
    r.hear(`arp-probe ${MEMBER_A}`);
    r.hear(`arp-reply ${STRANGER}`);
    expect(await r.guard.take('primary')).to.equal(null);
    expect(r.lines).to.deep.equal([
      `error stranger-arp: ARP for the primary address from no member (arp-reply ${STRANGER}): ignored`,
    ]);
    r.guard.start('monitor', '198.18.0.11/24', 50_000);
    expect(await r.guard.take('monitor')).to.equal(null);
  });

  it('a watch that ended on its own (the claim came too late) or broke stands against the claim', async () => {
    const late = rig();
    late.guard.start('primary', '198.18.0.10/24', 50_000);
    late.endOwn();
    await Promise.resolve();
    expect(await late.guard.take('primary')).to.match(/the claim came more than 5000 ms after the check's window/);
    const broken = rig();
    broken.guard.start('primary', '198.18.0.10/24', 50_000);
    broken.endOwn('hotspare-arp helper exited');
    await Promise.resolve();
    expect(await broken.guard.take('primary')).to.equal(
      'the watch that covers the claim broke (hotspare-arp helper exited)',
    );
  });

  it('no assignment after the check, a new check, or a driver that cannot watch: no guard left behind', async () => {
    const r = rig();
    r.guard.start('primary', '198.18.0.10/24', 50_000);
    r.hear(`arp-reply ${MEMBER_A}`);
    r.guard.settle('primary', false);
    expect(r.ended).to.equal(1);
    expect(await r.guard.take('primary')).to.equal(null);
    r.guard.start('primary', '198.18.0.10/24', 50_000);
    r.hear(`arp-reply ${MEMBER_A}`);
    r.guard.endAll();
    expect(await r.guard.take('primary')).to.equal(null);
    const none = rig(false);
    none.guard.start('primary', '198.18.0.10/24', 50_000);
    expect(none.started).to.equal(0);
    expect(await none.guard.take('primary')).to.equal(null);
  });
});
