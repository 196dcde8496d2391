/**
 * Pure parts of the lab harness (no namespaces needed):
 *   npx mocha --no-config dist/test/lab/units.test.js
 */
import { expect } from 'chai';
import { parse } from 'yaml';
import { deepMerge, toYaml } from '../../scripts/lab/agent-config.js';
import { procNetUdpAddress } from '../../scripts/lab/bmc-sim.js';
import { linkUsable, parseMonitorLine } from '../../scripts/lab/monitor-parse.js';
import { largestGap, ttlChanges } from '../../scripts/lab/observer-stats.js';
import type { Reply } from '../../scripts/lab/observer-stats.js';
import { parseProcStat } from '../../scripts/lab/proc-stat.js';
import { isRunId, newRunId } from '../../scripts/lab/run-id.js';
import { findViolations } from '../../scripts/lab/split-brain.js';
import type { HolderEvent } from '../../scripts/lab/split-brain.js';
import { planLab } from '../../scripts/lab/topology.js';

describe('lab: topology', () => {
  it('plans names, MACs, addresses and TTLs', () => {
    const plan = planLab('ab12', '/tmp/hotspare-lab/ab12', ['a', 'b', 'c']);
    expect(plan.lanNetns).to.equal('hsab12-lan');
    expect(plan.mgmtNetns).to.equal('hsab12-mgmt');
    expect(plan.observerNetns).to.equal('hsab12-obs');
    expect(plan.servers.map((s) => [s.netns, s.mac, s.lanAddress, s.mgmtAddress, s.bmcHost, s.ttl])).to.deep.equal([
      ['hsab12-a', '02:00:00:00:00:0a', '198.18.0.11/24', '198.18.1.21/24', '198.18.1.11', 65],
      ['hsab12-b', '02:00:00:00:00:0b', '198.18.0.12/24', '198.18.1.22/24', '198.18.1.12', 66],
      ['hsab12-c', '02:00:00:00:00:0c', '198.18.0.13/24', '198.18.1.23/24', '198.18.1.13', 67],
    ]);
    for (const server of plan.servers) {
      expect(server.lanPort.length).to.be.at.most(15);
    }
  });

  it('refuses bad server lists', () => {
    expect(() => planLab('ab12', '/x', [])).to.throw();
    expect(() => planLab('ab12', '/x', ['a', 'a'])).to.throw();
    expect(() => planLab('ab12', '/x', ['lan'])).to.throw();
    expect(() => planLab('ab12', '/x', ['toolongname'])).to.throw();
    expect(() => planLab('ab12', '/x', 'abcdefghij'.split(''))).to.throw();
  });

  it('makes short distinct run ids', () => {
    const ids = new Set(Array.from({ length: 50 }, newRunId));
    expect(ids.size).to.be.greaterThan(45);
    for (const id of ids) {
      expect(isRunId(id)).to.equal(true);
    }
  });
});

describe('lab: ip monitor lines', () => {
  it('parses link changes with carrier state', () => {
    const event = parseMonitorLine(
      '[2026-11-26T15:49:13.675651] 2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    link/ether 02:00:00:00:00:0a',
    );
    expect(event).to.deep.include({ kind: 'link', ifname: 'eth0', up: true, deleted: false });
    expect(event?.wallUs).to.equal(new Date(2026, 10, 26, 15, 49, 13).getTime() * 1000 + 675651);
    const noCarrier = parseMonitorLine(
      '[2026-11-26T15:49:13.660607] 2: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state DOWN',
    );
    expect(noCarrier).to.deep.include({ kind: 'link', up: false });
    const down = parseMonitorLine(
      '[2026-11-26T15:49:14.084898] 2: eth0@if2: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN',
    );
    expect(down).to.deep.include({ kind: 'link', up: false });
  });

  it('parses address additions and deletions, IPv4 only', () => {
    expect(
      parseMonitorLine(
        '[2026-11-26T15:49:13.803308] 2: eth0    inet 198.18.0.10/24 scope global secondary eth0\\       valid_lft forever',
      ),
    ).to.deep.include({
      kind: 'addr',
      ifname: 'eth0',
      address: '198.18.0.10/24',
      deleted: false,
    });
    expect(
      parseMonitorLine(
        '[2026-11-26T15:49:14.072005] Deleted 2: eth0    inet 198.18.0.10/24 scope global secondary eth0\\ ',
      ),
    ).to.deep.include({ kind: 'addr', deleted: true });
    expect(
      parseMonitorLine('[2026-11-26T15:49:14.072029] Deleted 2: eth0    inet6 fe80::ff:fe00:a/64 scope link'),
    ).to.equal(null);
    expect(parseMonitorLine('garbage')).to.equal(null);
  });

  it('linkUsable needs UP and LOWER_UP and no NO-CARRIER', () => {
    expect(linkUsable(['BROADCAST', 'UP', 'LOWER_UP'])).to.equal(true);
    expect(linkUsable(['NO-CARRIER', 'UP', 'LOWER_UP'])).to.equal(false);
    expect(linkUsable(['UP'])).to.equal(false);
  });
});

describe('lab: split-brain checker', () => {
  const initial = {
    a: { linkUp: true, addresses: ['198.18.0.11/24', '198.18.0.10/24'] },
    b: { linkUp: true, addresses: ['198.18.0.12/24'] },
  };

  it('finds no violation when the address moves cleanly', () => {
    const events: HolderEvent[] = [
      { server: 'a', atUs: 100, kind: 'addr', address: '198.18.0.10/24', deleted: true },
      { server: 'b', atUs: 200, kind: 'addr', address: '198.18.0.10/24', deleted: false },
    ];
    expect(findViolations(initial, events, '198.18.0.10/24')).to.deep.equal([]);
  });

  it('reports the interval during which both held it on usable links', () => {
    const events: HolderEvent[] = [
      { server: 'b', atUs: 200, kind: 'addr', address: '198.18.0.10/24', deleted: false },
      { server: 'a', atUs: 900, kind: 'addr', address: '198.18.0.10/24', deleted: true },
    ];
    expect(findViolations(initial, events, '198.18.0.10')).to.deep.equal([
      { address: '198.18.0.10', startUs: 200, endUs: 900, servers: ['a', 'b'] },
    ]);
  });

  it('does not count a holder without link', () => {
    const events: HolderEvent[] = [
      { server: 'a', atUs: 100, kind: 'link', up: false },
      { server: 'b', atUs: 200, kind: 'addr', address: '198.18.0.10/24', deleted: false },
      { server: 'a', atUs: 500, kind: 'link', up: true },
      { server: 'a', atUs: 700, kind: 'addr', address: '198.18.0.10/24', deleted: true },
    ];
    expect(findViolations(initial, events, '198.18.0.10/24')).to.deep.equal([
      { address: '198.18.0.10', startUs: 500, endUs: 700, servers: ['a', 'b'] },
    ]);
  });

  it('does not count a holder whose switch port is down (cut), even before eth0 reports it', () => {
    const events: HolderEvent[] = [
      { server: 'a', atUs: 100, kind: 'port', up: false },
      { server: 'b', atUs: 200, kind: 'addr', address: '198.18.0.10/24', deleted: false },
      { server: 'a', atUs: 900, kind: 'link', up: false },
      { server: 'a', atUs: 2000, kind: 'port', up: true },
    ];
    expect(findViolations(initial, events, '198.18.0.10/24')).to.deep.equal([]);
    expect(
      findViolations({ ...initial, a: { ...initial.a, portUp: false } }, [events[1] as HolderEvent], '198.18.0.10/24'),
    ).to.deep.equal([]);
  });

  it('applies simultaneous events together, keeps open violations open, filters short ones', () => {
    const handover: HolderEvent[] = [
      { server: 'b', atUs: 300, kind: 'addr', address: '198.18.0.10/24', deleted: false },
      { server: 'a', atUs: 300, kind: 'addr', address: '198.18.0.10/24', deleted: true },
    ];
    expect(findViolations(initial, handover, '198.18.0.10/24')).to.deep.equal([]);
    const open: HolderEvent[] = [{ server: 'b', atUs: 300, kind: 'addr', address: '198.18.0.10/24', deleted: false }];
    expect(findViolations(initial, open, '198.18.0.10/24')).to.deep.equal([
      { address: '198.18.0.10', startUs: 300, endUs: null, servers: ['a', 'b'] },
    ]);
    const blip: HolderEvent[] = [
      { server: 'b', atUs: 300, kind: 'addr', address: '198.18.0.10/24', deleted: false },
      { server: 'b', atUs: 310, kind: 'addr', address: '198.18.0.10/24', deleted: true },
    ];
    expect(findViolations(initial, blip, '198.18.0.10/24', 100)).to.deep.equal([]);
    expect(findViolations(initial, blip, '198.18.0.10/24', 0)).to.have.length(1);
  });
});

describe('lab: observer statistics', () => {
  const reply = (t: number, ttl = 65): Reply => ({ t, n: 0, ttl, rtt: 30 });

  it('finds the largest gap, starting at the last reply before the window', () => {
    const replies = [reply(1000), reply(2000), reply(3000), reply(40_000, 66), reply(41_000, 66)];
    const gap = largestGap(replies, 2500, 50_000);
    expect(gap).to.deep.include({
      gapUs: 37_000,
      fromUs: 3000,
      toUs: 40_000,
      ttlBefore: 65,
      ttlAfter: 66,
      open: false,
    });
  });

  it('counts a gap that has not ended as open', () => {
    const gap = largestGap([reply(1000), reply(2000)], 0, 100_000);
    expect(gap).to.deep.include({ gapUs: 98_000, open: true, ttlAfter: null });
  });

  it('lists who answered when', () => {
    expect(ttlChanges([reply(1), reply(2), reply(3, 66), reply(4, 65)])).to.deep.equal([
      { t: 1, ttl: 65 },
      { t: 3, ttl: 66 },
      { t: 4, ttl: 65 },
    ]);
  });
});

describe('lab: small helpers', () => {
  it('deepMerge merges objects and replaces the rest', () => {
    const base = { probe: { interval_ms: 10, misses: 3 }, fencing: { required: true }, list: [1, 2] };
    expect(deepMerge(base, { probe: { misses: 5 }, fencing: { required: false }, list: [3] })).to.deep.equal({
      probe: { interval_ms: 10, misses: 5 },
      fencing: { required: false },
      list: [3],
    });
    expect(base.probe.misses).to.equal(3);
  });

  it('toYaml keeps MACs and addresses strings', () => {
    const text = toYaml({ mac: '02:00:00:00:00:0a', address: '198.18.0.10/24', port: 623, required: true });
    expect(parse(text)).to.deep.equal({
      mac: '02:00:00:00:00:0a',
      address: '198.18.0.10/24',
      port: 623,
      required: true,
    });
    expect(text).to.contain('mac: "02:00:00:00:00:0a"');
  });

  it('parses /proc/PID/stat, including a comm with spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    fields[1] = '77';
    fields[19] = '123456';
    expect(parseProcStat(`4242 (a (weird) name) ${fields.join(' ')}`)).to.deep.equal({
      pid: 4242,
      comm: 'a (weird) name',
      state: 'S',
      ppid: 77,
      startTime: 123456,
    });
    expect(parseProcStat('nonsense')).to.equal(null);
  });

  it('spells addresses as /proc/net/udp does', () => {
    expect(procNetUdpAddress('198.18.1.11', 623)).to.equal('0B0112C6:026F');
  });
});
