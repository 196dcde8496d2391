/** The agent's journal entries (journald's native protocol) and the service manager's environment. */
import { expect } from 'chai';
import { journalKey } from '../../../hal/systemd/index.js';
import { encodeJournalEntry, SystemdServiceManager } from '../../../hal/systemd/linux.js';
import { SimJournal } from '../../../hal/systemd/sim.js';
import { JournalLog, MemoryLog } from '../../../src/log/index.js';
import type { LogLine } from '../../../src/log/index.js';

function line(level: LogLine['level'], event: string, fields: LogLine['fields'] = {}): LogLine {
  return { atMs: 1, atUs: 42, level, node: 'b', event, message: `${event} happened`, fields };
}

describe('journal log and sd_notify environment', () => {
  it('one entry per line: priority, EVENT, NODE, ROLE, EPOCH and the line’s fields upper-cased, secrets redacted', () => {
    const journal = new SimJournal();
    const log = new JournalLog(journal, 'info', new MemoryLog());
    log.describeWith(() => ({ role: 'monitor', epoch: 7 }));
    log.emit(line('error', 'fence-failed', { member: 'a', passwordFile: '/etc/x', attemptNo: 3, message: 'dup' }));
    log.emit(line('debug', 'probe', {}));
    log.emit(line('warn', 'uplink', { heard: false }));
    expect(journal.entries).to.have.length(2);
    const e = journal.entries[0];
    expect(e?.get('PRIORITY')).to.equal('3');
    expect(e?.get('MESSAGE')).to.equal('fence-failed happened');
    expect(e?.get('EVENT')).to.equal('fence-failed');
    expect(e?.get('NODE')).to.equal('b');
    expect(e?.get('ROLE')).to.equal('monitor');
    expect(e?.get('EPOCH')).to.equal('7');
    expect(e?.get('MEMBER')).to.equal('a');
    expect(e?.get('ATTEMPT_NO')).to.equal('3');
    expect(e?.get('PASSWORD_FILE')).to.equal('[redacted]');
    // A line's own field named like a journal field does not replace it.
    expect(e?.get('HS_MESSAGE')).to.equal('dup');
    expect(journal.entries[1]?.get('PRIORITY')).to.equal('4');
  });

  it('an entry the journal refuses goes to the fallback log; the level can change on reload', () => {
    const journal = new SimJournal();
    const fallback = new MemoryLog();
    const log = new JournalLog(journal, 'warn', fallback);
    journal.refuse = true;
    log.emit(line('error', 'x'));
    expect(fallback.all().map((l) => l.event)).to.deep.equal(['x']);
    journal.refuse = false;
    log.emit(line('info', 'quiet'));
    log.setThreshold('info');
    log.emit(line('info', 'loud'));
    expect(journal.entries.map((e) => e.get('EVENT'))).to.deep.equal(['loud']);
    expect(log.recent(10).map((l) => l.event)).to.deep.equal(['x', 'quiet', 'loud']);
  });

  it('native protocol: KEY=value lines; a value with a newline as KEY, 64-bit LE length, bytes', () => {
    const data = encodeJournalEntry([
      ['MESSAGE', 'one'],
      ['STACK', 'a\nb'],
    ]);
    const expected = Buffer.concat([
      Buffer.from('MESSAGE=one\nSTACK\n'),
      Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from('a\nb\n'),
    ]);
    expect(data.equals(expected)).to.equal(true);
    expect(journalKey('tookUs')).to.equal('TOOK_US');
    expect(journalKey('_secret')).to.equal('SECRET');
    expect(journalKey('a-b')).to.equal('A_B');
  });

  it('the watchdog period is taken only when it is meant for this process', () => {
    const send = { send: () => 0 };
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '2000000' };
    expect(SystemdServiceManager.fromEnv(env, send, 10).watchdogUs).to.equal(2_000_000);
    expect(SystemdServiceManager.fromEnv({ ...env, WATCHDOG_PID: '10' }, send, 10).watchdogUs).to.equal(2_000_000);
    expect(SystemdServiceManager.fromEnv({ ...env, WATCHDOG_PID: '11' }, send, 10).watchdogUs).to.equal(null);
    expect(SystemdServiceManager.fromEnv({}, send, 10).supervised).to.equal(false);
    // Without the addon nothing is supervised, and notify sends nothing.
    const none = SystemdServiceManager.fromEnv(env, null, 10);
    expect([none.supervised, none.watchdogUs, none.notify({ READY: '1' })]).to.deep.equal([false, null, false]);
  });

  it('notify sends KEY=value lines in one datagram to NOTIFY_SOCKET', () => {
    const sent: Array<[string, string]> = [];
    const manager = SystemdServiceManager.fromEnv(
      { NOTIFY_SOCKET: '@/org/test' },
      { send: (path, data) => (sent.push([path, data.toString()]), 0) },
    );
    expect(manager.notify({ READY: '1', STATUS: 'primary,\nepoch 3' })).to.equal(true);
    expect(sent).to.deep.equal([['@/org/test', 'READY=1\nSTATUS=primary, epoch 3']]);
  });
});
