/**
 * The config layout of a boot image: `node: auto` (this server by its NIC's MAC), boards by
 * name from the package's directory, `hotspare check`'s look at this machine, and what a
 * SIGHUP reload applies.
 */
import { expect } from 'chai';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { isConfigError } from '../../../hal/errors/index.js';
import { checkConfig } from '../../../src/cli/check.js';
import { reloadPlan } from '../../../src/cli/reload.js';
import { loadConfig } from '../../../src/config/index.js';

const ROOT = resolve(import.meta.dirname, '../../../..');
const EXAMPLE = join(ROOT, 'examples/hotspare.yaml');
const MACS: Record<string, string> = { eth0: '02:00:00:00:00:0b' };
const macOf = (nic: string): string | null => MACS[nic] ?? null;

describe('boot image config: node auto, boards by name, check on this machine, reload', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-image-config-'));
    for (const m of ['a', 'b', 'c']) {
      writeFileSync(join(dir, `bmc-${m}.pass`), 'Sup3rSecret\n');
      chmodSync(join(dir, `bmc-${m}.pass`), 0o600);
    }
    writeFileSync(join(dir, 'peer.key'), 'PeerKeyContent-0123456789\n', { mode: 0o600 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function write(edit: (doc: Record<string, any>) => void = () => {}): string {
    const doc = parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, any>;
    doc['board'] = join(ROOT, 'boards/lab-netns.yaml');
    for (const m of doc['cluster']['members']) m.bmc.password_file = join(dir, `bmc-${m.name}.pass`);
    doc['peer']['key_file'] = join(dir, 'peer.key');
    edit(doc);
    const file = join(dir, 'hotspare.yaml');
    writeFileSync(file, stringify(doc));
    return file;
  }

  function configError(run: () => unknown): string {
    try {
      run();
    } catch (error) {
      expect(isConfigError(error), String(error)).to.equal(true);
      return (error as Error).message;
    }
    throw new Error('no error');
  }

  it('node: auto is the member whose MAC the board NIC has', () => {
    const config = loadConfig(
      write((d) => (d['node'] = 'auto')),
      { macOf },
    );
    expect(config.node).to.equal('b');
  });

  it('node: auto names the NIC and its MAC when no member has it, or when the NIC is missing', () => {
    const file = write((d) => (d['node'] = 'auto'));
    expect(configError(() => loadConfig(file, { macOf: () => '02:00:00:00:00:99' })))
      .to.contain('node')
      .and.to.contain("no member of cluster.members has eth0's MAC 02:00:00:00:00:99");
    expect(configError(() => loadConfig(file, { macOf: () => null }))).to.contain('has no interface eth0');
  });

  it('a board by name is looked up in the board directories; an unknown name lists where it looked', () => {
    const boards = join(dir, 'boards');
    mkdirSync(boards);
    writeFileSync(join(boards, 'my-board.yaml'), readFileSync(join(ROOT, 'boards/lab-netns.yaml')));
    const file = write((d) => (d['board'] = 'my-board'));
    expect(loadConfig(file, { macOf, boardDirs: [boards] }).board.file).to.equal(join(boards, 'my-board.yaml'));
    const unknown = write((d) => (d['board'] = 'no-such-board'));
    expect(configError(() => loadConfig(unknown, { boardDirs: [boards] })))
      .to.contain('board')
      .and.to.contain(`no board named "no-such-board" in ${boards}`);
  });

  it('the shipped boards are found by name (the checkout here, /usr/share/hotspare/boards in the package)', () => {
    const file = write((d) => (d['board'] = 'dell-poweredge-idrac9'));
    expect(loadConfig(file, { macOf }).board.name).to.equal('dell-poweredge-idrac9');
  });

  it('check on this machine: the NIC must exist and carry this member’s MAC', () => {
    const file = write((d) => (d['node'] = 'b'));
    expect(checkConfig(file, { host: true, macOf }).report.at(-1)).to.contain('eth0 has 02:00:00:00:00:0b');
    expect(() =>
      checkConfig(
        write((d) => (d['node'] = 'a')),
        { host: true, macOf },
      ),
    ).to.throw("a's mac is 02:00:00:00:00:0a, but eth0 here has 02:00:00:00:00:0b");
    expect(() => checkConfig(file, { host: true, macOf: () => null })).to.throw('this machine has no interface eth0');
    // Without host checks (the default for status --config): no look at this machine.
    expect(() => checkConfig(file, { macOf: () => null })).to.not.throw();
  });

  it('check on this machine: twin lease threads on fewer than two CPUs are warned of', () => {
    const twins = write((d) => {
      d['node'] = 'b';
      d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
      d['lease'] = { thread: 'twins' };
    });
    const warned = (cpus: number): string[] =>
      checkConfig(twins, { host: true, macOf, cpus: () => cpus }).warnings.filter((w) => w.includes('lease.thread'));
    expect(warned(1)).to.have.length(1);
    expect(warned(1)[0]).to.contain('run on 1 CPU: both lease threads would share it');
    expect(warned(2)).to.deep.equal([]);
    // One lease thread needs no second CPU; a config checked for another machine is not looked at.
    const worker = write((d) => {
      d['node'] = 'b';
      d['fencing'] = { ...(d['fencing'] ?? {}), gate: 'lease' };
    });
    expect(checkConfig(worker, { host: true, macOf, cpus: () => 1 }).warnings.join('\n')).to.not.contain(
      'lease.thread',
    );
    expect(checkConfig(twins, { macOf, cpus: () => 1 }).warnings.join('\n')).to.not.contain('lease.thread');
  });

  it('reload: log.level is applied, everything else is named as needing a restart', () => {
    const running = loadConfig(
      write((d) => (d['node'] = 'a')),
      { macOf },
    );
    const next = loadConfig(
      write((d) => {
        d['node'] = 'a';
        d['log'] = { level: 'debug' };
        d['probe'] = { interval_ms: 10, timeout_ms: 10, misses: 5 };
        d['cluster']['primary_address'] = '198.18.0.20/24';
      }),
      { macOf },
    );
    expect(reloadPlan(running, next)).to.deep.equal({
      apply: ['log.level'],
      restart: ['cluster', 'probe.interval_ms'],
    });
    expect(reloadPlan(running, running)).to.deep.equal({ apply: [], restart: [] });
  });
});
