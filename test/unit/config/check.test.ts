import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../../src/config/index.js';
import { checkConfig } from '../../../src/cli/check.js';
import { isConfigError } from '../../../hal/errors/index.js';

const ROOT = resolve(import.meta.dirname, '../../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const EXAMPLE = join(ROOT, 'examples/hotspare.yaml');

describe('config and `hotspare check`', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-check-'));
    for (const m of ['a', 'b', 'c']) {
      writeFileSync(join(dir, `bmc-${m}.pass`), 'Sup3rSecret\n');
      chmodSync(join(dir, `bmc-${m}.pass`), 0o600);
    }
    writeFileSync(join(dir, 'peer.key'), 'PeerKeyContent-0123456789\n', { mode: 0o600 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The example config with password files in the temp dir, then `edit` applied. */
  function write(edit: (doc: Record<string, any>) => void = () => {}, board?: string): string {
    const doc = parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, any>;
    doc['board'] = board ?? join(ROOT, 'boards/lab-netns.yaml');
    for (const m of doc['cluster']['members']) m.bmc.password_file = join(dir, `bmc-${m.name}.pass`);
    doc['peer']['key_file'] = join(dir, 'peer.key');
    edit(doc);
    const file = join(dir, 'hotspare.yaml');
    writeFileSync(file, stringify(doc));
    return file;
  }

  function check(file: string): { code: number | null; out: string } {
    // --no-host: this machine's NICs are not the example's servers' (tests of that: image-layout.test.ts).
    const r = spawnSync(process.execPath, [CLI, 'check', '--config', file, '--no-host'], { encoding: 'utf8' });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  }

  it('accepts the example config and says what the agent would do, without any password', () => {
    const r = check(write());
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.contain('valid');
    expect(r.out).to.contain('probe 198.18.0.10/24 every 5 ms');
    expect(r.out).to.contain(
      'read its power every 20 ms until off, for at most 20000 ms, sending the command again each 5000 ms it still reads on',
    );
    expect(r.out).to.not.contain('Sup3rSecret');
  });

  const broken: Array<[string, (doc: Record<string, any>) => void, string]> = [
    ['a missing field', (d) => delete d['node'], 'node: is required'],
    ['a wrong type', (d) => (d['probe']['interval_ms'] = 'fast'), 'probe.interval_ms: must be a number'],
    ['an out-of-range number', (d) => (d['probe']['misses'] = 0), 'probe.misses: must be at least 1'],
    ['an unknown key (typo)', (d) => (d['probe']['intervall_ms'] = 10), 'probe.intervall_ms: unknown key'],
    [
      'a bad MAC',
      (d) => (d['cluster']['members'][1]['mac'] = '02:00:00:00:0b'),
      'cluster.members[1].mac: must look like',
    ],
    [
      'a bad address',
      (d) => (d['cluster']['primary_address'] = '198.18.0.10'),
      'cluster.primary_address: must be an IPv4 address with prefix length',
    ],
    [
      'the same address twice',
      (d) => (d['cluster']['monitor_address'] = '198.18.0.10/24'),
      'cluster.monitor_address: must differ',
    ],
    [
      'a leading zero in an address',
      (d) => (d['cluster']['primary_address'] = '198.018.0.10/24'),
      'cluster.primary_address: "198.018.0.10/24" has a leading zero in "018"',
    ],
    [
      'the same monitor address spelled with a leading zero',
      (d) => {
        d['cluster']['primary_address'] = '198.18.0.8/24';
        d['cluster']['monitor_address'] = '198.18.0.010/24';
      },
      'cluster.monitor_address: "198.18.0.010/24" has a leading zero',
    ],
    [
      'the same address with another prefix',
      (d) => (d['cluster']['monitor_address'] = '198.18.0.10/16'),
      'cluster.monitor_address: must differ from primary_address (both are 198.18.0.10)',
    ],
    [
      'prefix /0',
      (d) => (d['cluster']['primary_address'] = '0.0.0.0/0'),
      'cluster.primary_address: "0.0.0.0/0": prefix /0',
    ],
    [
      'a loopback address',
      (d) => (d['cluster']['monitor_address'] = '127.0.0.9/8'),
      'cluster.monitor_address: "127.0.0.9/8" is in 127.0.0.0/8, loopback',
    ],
    [
      'a multicast address',
      (d) => (d['cluster']['primary_address'] = '224.0.0.10/24'),
      'cluster.primary_address: "224.0.0.10/24" is in 224.0.0.0/4, multicast',
    ],
    [
      'the limited broadcast address',
      (d) => (d['cluster']['primary_address'] = '255.255.255.255/32'),
      'cluster.primary_address: "255.255.255.255/32" is the limited broadcast address',
    ],
    ['a node not in members', (d) => (d['node'] = 'z'), 'node: "z" is not in cluster.members'],
    [
      'duplicate members',
      (d) => (d['cluster']['members'][2]['name'] = 'a'),
      'cluster.members[2].name: duplicate member name',
    ],
    [
      'a power timeout shorter than the poll interval',
      (d) => (d['fencing'] = { power_poll_ms: 50, power_timeout_ms: 20 }),
      'fencing.power_timeout_ms: must be at least power_poll_ms',
    ],
    [
      'a resend interval shorter than the poll interval',
      (d) => (d['fencing'] = { power_poll_ms: 50, power_resend_ms: 20 }),
      'fencing.power_resend_ms: must be 0 (never) or at least power_poll_ms',
    ],
    ['a zero poll interval', (d) => (d['fencing'] = { power_poll_ms: 0 }), 'fencing.power_poll_ms: must be at least 1'],
    [
      'quick polls not quicker than the normal ones',
      (d) => (d['fencing'] = { power_poll_ms: 20, power_poll_quick_ms: 20 }),
      'fencing.power_poll_quick_ms: must be 0 (none) or less than power_poll_ms (20)',
    ],
    [
      'an unreadable password file',
      (d) => (d['cluster']['members'][1]['bmc']['password_file'] = '/nonexistent/pass'),
      'cluster.members[1].bmc.password_file: cannot read the file named there (ENOENT)',
    ],
    [
      'a member without address while peer.key_file is set',
      (d) => delete d['cluster']['members'][2]['address'],
      'cluster.members[2].address: is required when peer.key_file is set',
    ],
    [
      'a bad mgmt_address',
      (d) => (d['cluster']['members'][1]['mgmt_address'] = '198.18.1.22'),
      'cluster.members[1].mgmt_address: must be an IPv4 address with prefix length',
    ],
    [
      'a member address that is the primary address',
      (d) => (d['cluster']['members'][0]['address'] = '198.18.0.10/24'),
      'cluster.members[0].address: must be the member’s fixed address',
    ],
    [
      'two members with the same address',
      (d) => (d['cluster']['members'][1]['address'] = '198.18.0.11/24'),
      'cluster.members[1].address: 198.18.0.11 is used by another member address',
    ],
    [
      'dead_after_ms not above interval_ms',
      (d) => (d['peer']['dead_after_ms'] = 100),
      'peer.dead_after_ms: must be more than interval_ms (100)',
    ],
    ['an unknown peer key', (d) => (d['peer']['keyfile'] = 'x'), 'peer.keyfile: unknown key'],
    [
      'a missing peer key file',
      (d) => (d['peer']['key_file'] = '/nonexistent/peer.key'),
      'peer.key_file: cannot read the file named there (ENOENT)',
    ],
  ];
  for (const [what, edit, expected] of broken) {
    it(`refuses ${what}, naming the file and the field`, () => {
      const file = write(edit);
      const r = check(file);
      expect(r.code, r.out).to.equal(1);
      expect(r.out).to.contain(file);
      expect(r.out).to.contain(expected);
    });
  }

  it('checks the peer key like the sync key (mode 0600, 16 bytes) and never prints it', () => {
    const key = join(dir, 'peer.key');
    chmodSync(key, 0o644);
    const open = check(write());
    expect(open.code).to.equal(1);
    expect(open.out).to.contain('peer.key_file').and.contain('open to group or others');
    chmodSync(key, 0o600);
    writeFileSync(key, 'short\n');
    expect(check(write()).out).to.contain('at least 16 are needed');
    writeFileSync(key, 'PeerKeyContent-0123456789\n');
    const ok = check(write());
    expect(ok.code, ok.out).to.equal(0);
    expect(ok.out).to.contain('peer heartbeat: every 100 ms').and.contain('b at 198.18.0.12/24 and 198.18.1.22/24');
    expect(ok.out).to.not.contain('PeerKeyContent');
  });

  it('peer defaults, and peer off without key_file needs no member addresses', () => {
    const config = loadConfig(
      write((d) => {
        d['peer'] = {};
        for (const m of d['cluster']['members']) {
          delete m.address;
          delete m.mgmt_address;
        }
      }),
    );
    expect(config.peer).to.deep.equal({ keyFile: null, port: 7405, intervalMs: 100, deadAfterMs: 1000 });
    expect(config.cluster.members[0]).to.deep.include({ address: null, mgmtAddress: null });
    const on = loadConfig(write());
    expect(on.cluster.members[1]).to.deep.include({ address: '198.18.0.12/24', mgmtAddress: '198.18.1.22/24' });
    expect(on.peer.keyFile).to.equal(join(dir, 'peer.key'));
  });

  it('refuses a password written in the config, without echoing it', () => {
    const r = check(write((d) => (d['cluster']['members'][0]['bmc']['password'] = 'Plaintext99')));
    expect(r.code).to.equal(1);
    expect(r.out).to.contain('cluster.members[0].bmc.password: passwords are not written in the config');
    expect(r.out).to.not.contain('Plaintext99');
  });

  const typedIn: Array<[string, (doc: Record<string, any>) => void, string]> = [
    [
      'bmc.password_file',
      (d) => (d['cluster']['members'][1]['bmc']['password_file'] = 'Typed-In-99'),
      'cluster.members[1].bmc.password_file: cannot read the file named there (ENOENT)',
    ],
    [
      'bmc.password_file (a number)',
      (d) => (d['cluster']['members'][1]['bmc']['password_file'] = 31415926),
      'cluster.members[1].bmc.password_file: must be a non-empty string, got a number (value not shown',
    ],
    [
      'shell.password_file',
      (d) => (d['shell'] = { password_file: 'Typed-In-99' }),
      'shell.password_file: cannot read the file named there (ENOENT)',
    ],
    [
      'sync.key_file',
      (d) => (d['sync'] = { paths: ['/srv/data'], key_file: 'Typed-In-99' }),
      'sync.key_file: cannot read the file named there (ENOENT)',
    ],
  ];
  for (const [field, edit, expected] of typedIn) {
    it(`never echoes a password typed into ${field}`, () => {
      const file = write(edit);
      const r = check(file);
      expect(r.code, r.out).to.equal(1);
      expect(r.out).to.contain(`${file}: ${expected}`);
      expect(r.out).to.not.contain('Typed-In-99').and.not.contain('31415926');
    });
  }

  it('hotspare run refuses a BMC password file open to group or others, naming file and field, before opening anything', () => {
    chmodSync(join(dir, 'bmc-b.pass'), 0o644);
    const file = write();
    const r = spawnSync(process.execPath, [CLI, 'run', '--config', file], { encoding: 'utf8', timeout: 10_000 });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).to.equal(1);
    expect(out).to.contain(
      `${file}: cluster.members[1].bmc.password_file: the file named there is open to group or others (mode 0644); chmod 600 it`,
    );
    expect(out).to.not.contain('Sup3rSecret');
    // Refused before the clock, sockets or NIC were opened: nothing was logged.
    expect(out).to.not.contain('"event"').and.not.contain('probe clock');
    // check says the same, as an error now.
    expect(check(file).code).to.equal(1);
  });

  describe('issue 15: switch ports, fencing levels, BMC identity', () => {
    function community(mode = 0o600): string {
      const file = join(dir, 'switch.community');
      writeFileSync(file, 'Comm-Secret-77\n', { mode });
      chmodSync(file, mode);
      return file;
    }
    const isolation = (file: string): Record<string, unknown> => ({
      device: 'snmp-ifmib',
      host: '198.18.0.1',
      community_file: file,
      if_index: 7,
    });
    const pdu = (): Record<string, unknown> => ({
      client: 'fence-agent',
      fence_agent: { name: 'fence_ifmib', options: { snmp_version: '3' } },
      host: '198.18.0.2',
      username: 'apc',
      password_file: join(dir, 'bmc-b.pass'),
      plug: '3',
      timeout_ms: 15000,
    });

    it('reads members[].isolation, fence_levels and uuid, reports them, and never prints the community', () => {
      const file = write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), bmc_identity: 'refuse' };
        const b = d['cluster']['members'][1];
        b.isolation = isolation(community());
        b.fence_levels = [pdu()];
        b.uuid = '4C4C4544-0042-3510-8052-B4C04F4E3832';
      });
      const config = loadConfig(file);
      const b = config.cluster.members[1];
      expect(b?.isolation).to.deep.include({
        device: 'snmp-ifmib',
        host: '198.18.0.1',
        port: 161,
        ifIndex: 7,
        timeoutMs: 2000,
      });
      expect(b?.fenceLevels[0]).to.deep.include({ client: 'fence-agent', timeoutMs: 15000 });
      expect(b?.fenceLevels[0]?.device).to.deep.include({ host: '198.18.0.2', plug: '3' });
      expect(b?.uuid).to.equal('4c4c4544-0042-3510-8052-b4c04f4e3832');
      expect(config.fencing.bmcIdentity).to.equal('refuse');
      const r = check(file);
      expect(r.code, r.out).to.equal(0);
      expect(r.out).to.contain(
        'fencing levels of b: level 1: its BMC; level 2: fence_ifmib 198.18.0.2 plug 3 within 15000 ms',
      );
      expect(r.out).to.contain('isolation of b: switch 198.18.0.1:161 ifIndex 7');
      expect(r.out).to.contain('BMC identity at start (refuse)');
      expect(r.out).to.not.contain('Comm-Secret-77');
    });

    const wrong: Array<[string, (d: Record<string, any>) => void, string]> = [
      [
        'isolation without if_index',
        (d) => {
          d['cluster']['members'][1].isolation = { ...isolation(community()), if_index: undefined };
        },
        'cluster.members[1].isolation.if_index: is required',
      ],
      [
        'an unknown isolation device',
        (d) => (d['cluster']['members'][1].isolation = { ...isolation(community()), device: 'telnet' }),
        'cluster.members[1].isolation.device: must be one of snmp-ifmib',
      ],
      [
        'a community written in the config',
        (d) => (d['cluster']['members'][1].isolation = { ...isolation(community()), community: 'Comm-Secret-77' }),
        'cluster.members[1].isolation.community: the community is a secret',
      ],
      [
        'a relative community_file',
        (d) => (d['cluster']['members'][1].isolation = isolation('switch.community')),
        'cluster.members[1].isolation.community_file: must be an absolute path',
      ],
      [
        'a community file open to others',
        (d) => (d['cluster']['members'][1].isolation = isolation(community(0o644))),
        'cluster.members[1].isolation.community_file: the file named there is open to group or others (mode 0644)',
      ],
      [
        'a redfish level without a way to check the certificate',
        (d) =>
          (d['cluster']['members'][1].fence_levels = [
            { ...pdu(), client: 'redfish', fence_agent: undefined, plug: undefined },
          ]),
        'cluster.members[1].fence_levels[0].redfish.ca_file: is required',
      ],
      [
        'a fence agent that is not installed',
        (d) => (d['cluster']['members'][1].fence_levels = [{ ...pdu(), fence_agent: { name: 'fence_nonesuch' } }]),
        'cluster.members[1].fence_levels[0].fence_agent.name: fence_nonesuch is not installed',
      ],
      [
        'a level password file that cannot be read',
        (d) => (d['cluster']['members'][1].fence_levels = [{ ...pdu(), password_file: join(dir, 'missing.pass') }]),
        'cluster.members[1].fence_levels[0].password_file: cannot read the file named there (ENOENT)',
      ],
      [
        'a level without a client',
        (d) => (d['cluster']['members'][1].fence_levels = [{ ...pdu(), client: undefined }]),
        'cluster.members[1].fence_levels[0].client: must be one of fence-agent, redfish, ipmitool',
      ],
      [
        'a bad uuid',
        (d) => (d['cluster']['members'][1].uuid = 'not-a-uuid'),
        'cluster.members[1].uuid: must be a UUID',
      ],
      [
        'a bad bmc_identity',
        (d) => (d['fencing'] = { ...(d['fencing'] ?? {}), bmc_identity: 'strict' }),
        'fencing.bmc_identity: must be one of off, warn, refuse',
      ],
    ];
    for (const [what, edit, expected] of wrong) {
      it(`refuses ${what}, naming the field`, () => {
        const r = check(write(edit));
        expect(r.code, r.out).to.equal(1);
        expect(r.out).to.contain(expected);
        expect(r.out).to.not.contain('Comm-Secret-77');
      });
    }
  });

  it('names the board file and field when the board is wrong', () => {
    const board = join(dir, 'board.yaml');
    writeFileSync(board, 'name: x\nnic: eth0\nbmc: { power_cycle: reset }\n');
    const r = check(write(undefined, board));
    expect(r.code).to.equal(1);
    expect(r.out).to.contain(`${board}: bmc.power_cycle: must be one of cycle, off-on`);
  });

  it('names the file when it is not YAML or does not exist', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'node: [unclosed\n');
    expect(check(file).out).to.contain(`${file}: not valid YAML`);
    expect(check(join(dir, 'missing.yaml')).out).to.contain('missing.yaml: cannot read: ENOENT');
  });

  it('fills defaults and resolves relative paths against the config file', () => {
    const file = write((d) => {
      delete d['probe'];
      delete d['fencing'];
      d['state_dir'] = 'state';
    });
    const config = loadConfig(file);
    expect(config.probe).to.deep.equal({ intervalMs: 5, timeoutMs: 10, misses: 5, engine: 'auto' });
    expect(config.fencing.required).to.equal(true);
    expect(config.fencing.powerPollMs).to.equal(20);
    expect(config.fencing.powerTimeoutMs).to.equal(20_000);
    expect(config.stateDir).to.equal(join(dir, 'state'));
    expect(config.board.bmc.cipherSuite).to.equal(3);
  });

  it('refuses bmc.client rmcp with IPMI 1.5 or a cipher suite it does not speak, naming the field', () => {
    const lan = join(dir, 'board-lan.yaml');
    writeFileSync(lan, 'name: x\nnic: eth0\nbmc: { client: rmcp, interface: lan }\n');
    const r1 = check(write(undefined, lan));
    expect(r1.code).to.equal(1);
    expect(r1.out).to.contain(`${lan}: bmc.client: rmcp speaks IPMI v2.0 RMCP+ only`);
    const suite = join(dir, 'board-suite.yaml');
    writeFileSync(suite, 'name: x\nnic: eth0\nbmc: { client: rmcp, cipher_suite: 1 }\n');
    const r2 = check(write(undefined, suite));
    expect(r2.code).to.equal(1);
    expect(r2.out).to.contain(`${suite}: bmc.cipher_suite: 1 is not supported by client rmcp (supported: 3, 17)`);
    const ok = join(dir, 'board-ok.yaml');
    writeFileSync(ok, 'name: x\nnic: eth0\nbmc: { client: ipmitool, cipher_suite: 1 }\n');
    expect(check(write(undefined, ok)).code).to.equal(0);
  });

  it('every shipped board validates', () => {
    for (const board of ['lab-netns', 'dell-poweredge-idrac9', 'hpe-proliant-ilo5', 'supermicro-x11']) {
      const file = write(undefined, join(ROOT, `boards/${board}.yaml`));
      try {
        loadConfig(file);
      } catch (error) {
        expect.fail(`${board}: ${isConfigError(error) ? error.message : String(error)}`);
      }
    }
  });

  it('--help works on every command', () => {
    for (const command of ['run', 'check', 'status', 'simulate']) {
      const r = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' });
      expect(r.status, command).to.equal(0);
      expect(r.stdout).to.contain(`usage: hotspare ${command}`);
    }
  });

  it('fencing.gate: lease is refused with two members, without peer.key_file, or with renew_ms above a third of duration_ms', () => {
    const two = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
        d['cluster']['members'] = d['cluster']['members'].slice(0, 2);
      }),
    );
    expect(two.code, two.out).to.not.equal(0);
    expect(two.out).to.match(/fencing\.gate.*lease needs at least 3 voters: 2 members .* and no lease\.witness/);
    const noKey = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
        delete d['peer']['key_file'];
      }),
    );
    expect(noKey.code, noKey.out).to.not.equal(0);
    expect(noKey.out).to.match(/fencing\.gate.*peer\.key_file/);
    const renew = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
        d['lease'] = { duration_ms: 30, renew_ms: 11 };
      }),
    );
    expect(renew.code, renew.out).to.not.equal(0);
    expect(renew.out).to.match(/lease\.renew_ms.*at most a third of duration_ms/);
    const drift = check(
      write((d) => {
        d['lease'] = { drift: 0.0001 };
      }),
    );
    expect(drift.code, drift.out).to.not.equal(0);
    expect(drift.out).to.match(/lease\.drift.*at least 0\.001/);
    const thread = check(
      write((d) => {
        d['lease'] = { thread: 'fast' };
      }),
    );
    expect(thread.code, thread.out).to.not.equal(0);
    expect(thread.out).to.match(/lease\.thread.*worker.*twins.*event-loop/);
    const twins = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
        d['lease'] = { thread: 'twins' };
      }),
    );
    expect(twins.code, twins.out).to.equal(0);
    expect(twins.out).to.match(/lease service on two threads pinned to two CPUs .*the second on port \d+/);
    const lastPort = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
        d['lease'] = { thread: 'twins' };
        d['peer'] = { ...(d['peer'] ?? {}), port: 65535 };
      }),
    );
    expect(lastPort.code, lastPort.out).to.not.equal(0);
    expect(lastPort.out).to.match(/lease\.thread.*twins listens on peer\.port \+ 1/);
    const ok = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
      }),
    );
    expect(ok.code, ok.out).to.equal(0);
    expect(ok.out).to.contain('lease service on its own thread');
    const onLoop = check(
      write((d) => {
        d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
        d['lease'] = { thread: 'event-loop' };
      }),
    );
    expect(onLoop.code, onLoop.out).to.equal(0);
    expect(onLoop.out).to.contain("lease service on the agent's event loop");
  });

  it('fencing.gate: lease with two members and lease.witness is accepted and counts 3 voters; a witness that is a member is refused', () => {
    const twoAndWitness = (witness: Record<string, unknown>) => (d: Record<string, any>) => {
      d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
      d['cluster']['members'] = d['cluster']['members'].slice(0, 2);
      d['lease'] = { witness };
    };
    const ok = check(write(twoAndWitness({ name: 'w', address: '198.18.0.50/24' })));
    expect(ok.code, ok.out).to.equal(0);
    expect(ok.out).to.contain('granted by 2 of 3 voters, the witness w at 198.18.0.50/24 among them');
    const named = check(write(twoAndWitness({ name: 'a', address: '198.18.0.50/24' })));
    expect(named.code).to.not.equal(0);
    expect(named.out).to.contain('lease.witness.name: "a" is a member\'s name');
    const addressed = check(write(twoAndWitness({ name: 'w', address: '198.18.0.10/24' })));
    expect(addressed.code).to.not.equal(0);
    expect(addressed.out).to.contain('lease.witness');
    const unknown = check(write(twoAndWitness({ name: 'w', address: '198.18.0.50/24', port: 1 })));
    expect(unknown.out).to.contain('lease.witness.port: unknown key');
    const missing = check(write(twoAndWitness({ name: 'w' })));
    expect(missing.out).to.contain('lease.witness.address: is required');
  });

  it('a witness reads the cluster config with its node ignored; without lease.witness it refuses to start, naming the field', () => {
    const file = write((d) => {
      d['node'] = 'nobody';
      d['lease'] = { witness: { name: 'w', address: '198.18.0.50/24' } };
    });
    expect(loadConfig(file, { witness: true }).node).to.equal('w');
    const none = write((d) => (d['node'] = 'nobody'));
    expect(() => loadConfig(none, { witness: true })).to.throw(/lease\.witness: is required to run a witness/);
    const r = spawnSync(process.execPath, [CLI, 'witness', '--config', none], { encoding: 'utf8' });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('lease.witness: is required to run a witness');
  });

  it('warns when fencing is required, or a final sync configured, without the peer protocol', () => {
    writeFileSync(join(dir, 'sync.key'), 'a sync key of 32 bytes, or so...\n', { mode: 0o600 });
    const on = checkConfig(write(), { macOf: () => null });
    expect(on.warnings.filter((w) => w.includes('peer.key_file'))).to.deep.equal([]);
    const off = checkConfig(
      write((d) => {
        delete d['peer'];
        d['sync'] = { paths: ['/var/lib/app'], key_file: join(dir, 'sync.key') };
      }),
      { macOf: () => null },
    );
    expect(off.warnings.join('\n'))
      .to.contain('fencing.required is true but peer.key_file is not set')
      .and.contain('sync.final_ms has no effect without peer.key_file');
    const notRequired = checkConfig(
      write((d) => {
        delete d['peer'];
        d['fencing'] = { required: false };
      }),
      { macOf: () => null },
    );
    expect(notRequired.warnings.filter((w) => w.includes('peer.key_file'))).to.deep.equal([]);
  });

  /** The lab board, stating a typical power-off time (`bmc.power_off_ms`). */
  function boardStatingOffTime(ms: number): string {
    const board = join(dir, `board-off-${ms}.yaml`);
    const text = readFileSync(join(ROOT, 'boards/lab-netns.yaml'), 'utf8').replace(
      'timeout_ms: 2000',
      `timeout_ms: 2000\n  power_off_ms: ${ms}`,
    );
    writeFileSync(board, text);
    return board;
  }

  it("warns when fencing.power_resend_ms or power_timeout_ms does not fit the board's typical power-off time", () => {
    const board = boardStatingOffTime(6000);
    // The default resend interval follows the board: twice its typical off time.
    const fits = checkConfig(
      write(() => {}, board),
      { macOf: () => null },
    );
    expect(fits.config.fencing.powerResendMs).to.equal(12_000);
    expect(fits.warnings.filter((w) => w.includes('power_'))).to.deep.equal([]);
    const tooSoon = checkConfig(
      write((d) => (d['fencing'] = { power_resend_ms: 6000, power_timeout_ms: 11_000 }), board),
      { macOf: () => null },
    );
    expect(tooSoon.warnings.join('\n'))
      .to.contain("fencing.power_resend_ms (6000) is not more than the board's typical power-off time")
      .and.contain('fencing.power_timeout_ms (11000) is less than twice');
    const never = checkConfig(
      write((d) => (d['fencing'] = { power_resend_ms: 0 }), board),
      { macOf: () => null },
    );
    expect(never.warnings.filter((w) => w.includes('power_resend_ms'))).to.deep.equal([]);
  });

  it("says when a fence polls quickly: around the board's bmc.power_off_ms, not without it, not with 0", () => {
    const board = boardStatingOffTime(6000);
    const stated = check(write(() => {}, board));
    expect(stated.code, stated.out).to.equal(0);
    expect(stated.out).to.contain(
      "read its power every 20 ms (every 5 ms from 4400 to 9100 ms after it, around the board's bmc.power_off_ms 6000) until off",
    );
    const off = check(write((d) => (d['fencing'] = { power_poll_quick_ms: 0 }), board));
    expect(off.out).to.contain('read its power every 20 ms until off');
    expect(check(write()).out).to.not.contain('every 5 ms from');
  });
});
