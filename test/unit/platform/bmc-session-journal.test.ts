/**
 * src/platform/bmc-session-journal.ts: the RMCP+ session journal in the state directory.
 * (The client's use of it against a fake BMC: test/host/hal/bmc-rmcp-session.test.ts.)
 */
import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSessionJournal, SESSION_JOURNAL_FILE } from '../../../src/platform/bmc-session-journal.js';

describe('platform FileSessionJournal', () => {
  let dir = '';
  const a = { member: 'a', host: '198.18.1.11', port: 623, bmcSessionId: 0x10203 };
  const b = { member: 'b', host: '198.18.1.12', port: 623, bmcSessionId: 0x7fff0001 };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hs-journal-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('no file: no leftovers; what one run opens and never closes is the next run’s leftovers', async () => {
    const first = new FileSessionJournal(join(dir, 'state'));
    expect(first.leftovers()).to.deep.equal([]);
    first.opened(a);
    first.opened(b);
    first.closed(a);
    // "Killed" here: the next run reads what is on disk.
    const second = new FileSessionJournal(join(dir, 'state'));
    expect(second.leftovers()).to.deep.equal([b]);
    second.opened(a);
    second.closed(b);
    expect(second.leftovers()).to.deep.equal([]);
    expect(new FileSessionJournal(join(dir, 'state')).leftovers()).to.deep.equal([a]);
  });

  it('the file is mode 0600, holds no more than address and session ID, and no temporary is left', async () => {
    const journal = new FileSessionJournal(dir);
    journal.opened(a);
    const file = join(dir, SESSION_JOURNAL_FILE);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    const value = JSON.parse(await readFile(file, 'utf8')) as { sessions: object[] };
    expect(value.sessions).to.deep.equal([a]);
    expect(Object.keys(value.sessions[0] ?? {}).sort()).to.deep.equal(['bmcSessionId', 'host', 'member', 'port']);
    expect(await readdir(dir)).to.deep.equal([SESSION_JOURNAL_FILE]);
  });

  it('a corrupt file is reported and taken as empty; bad entries are skipped', async () => {
    const file = join(dir, SESSION_JOURNAL_FILE);
    await writeFile(file, '{"sessions": [');
    const lines: string[] = [];
    expect(new FileSessionJournal(dir, (line) => lines.push(line)).leftovers()).to.deep.equal([]);
    expect(lines.join()).to.match(/corrupt/);
    await writeFile(file, JSON.stringify({ sessions: [a, { host: 'x' }, { ...b, bmcSessionId: -1 }] }));
    expect(new FileSessionJournal(dir).leftovers()).to.deep.equal([a]);
  });

  it('a write that fails is reported; the journal carries on in memory', async () => {
    const lines: string[] = [];
    const blocked = join(dir, 'file');
    await writeFile(blocked, '');
    const journal = new FileSessionJournal(join(blocked, 'state'), (line) => lines.push(line));
    journal.opened(a);
    expect(journal.current).to.deep.equal([a]);
    expect(lines.join()).to.match(/cannot write .*ENOTDIR/);
  });
});
