import { expect } from 'chai';
import fc from 'fast-check';
import { CATALOG } from '../../../src/shell/catalog.js';
import { commandText, isMutating, parseLine } from '../../../src/shell/index.js';
import type { ParseResult, ShellCommand } from '../../../src/shell/index.js';

function command(line: string): ShellCommand {
  const r = parseLine(line);
  if (r.kind !== 'command') throw new Error(`${JSON.stringify(line)} did not parse: ${JSON.stringify(r)}`);
  return r.command;
}

function error(line: string): string {
  const r = parseLine(line);
  if (r.kind !== 'error') throw new Error(`${JSON.stringify(line)} parsed: ${JSON.stringify(r)}`);
  return r.message;
}

describe('shell command parser', () => {
  it('parses every command of the issue, with defaults', () => {
    expect(command('status')).to.deep.equal({ name: 'status' });
    expect(command('  HISTORY ')).to.deep.equal({ name: 'history' });
    expect(command('probe 198.18.0.10')).to.deep.equal({ name: 'probe', address: '198.18.0.10', count: 3 });
    expect(command('probe 198.18.0.10 20')).to.deep.equal({ name: 'probe', address: '198.18.0.10', count: 20 });
    expect(command('bmc b status')).to.deep.equal({ name: 'bmc', node: 'b' });
    expect(command('log')).to.deep.equal({ name: 'log', count: 20 });
    expect(command('log 200')).to.deep.equal({ name: 'log', count: 200 });
    expect(command('config')).to.deep.equal({ name: 'config' });
    expect(command('sync status')).to.deep.equal({ name: 'sync', action: 'status' });
    expect(command('sync NOW')).to.deep.equal({ name: 'sync', action: 'now' });
    expect(command('promote')).to.deep.equal({ name: 'promote' });
    expect(command('demote')).to.deep.equal({ name: 'demote' });
    expect(command('maintenance on')).to.deep.equal({ name: 'maintenance', on: true });
    expect(command('maintenance off')).to.deep.equal({ name: 'maintenance', on: false });
    expect(command('fence node-2')).to.deep.equal({ name: 'fence', node: 'node-2' });
    expect(command('help')).to.deep.equal({ name: 'help', topic: null });
    expect(command('? fence')).to.deep.equal({ name: 'help', topic: 'fence' });
    expect(command('quit')).to.deep.equal({ name: 'exit' });
    expect(parseLine('   ')).to.deep.equal({ kind: 'empty' });
  });

  it('usage errors name the command and its usage', () => {
    expect(error('probe')).to.equal('probe: needs an IPv4 address; usage: probe ADDR [COUNT]');
    expect(error('probe 300.1.1.1')).to.contain('probe: "300.1.1.1" is not an IPv4 address');
    expect(error('probe 198.18.0.10 0')).to.contain('count must be a whole number from 1 to 100, got "0"');
    expect(error('probe 198.18.0.10 101')).to.contain('from 1 to 100');
    expect(error('log -1')).to.contain('log: count must be a whole number from 1 to 1000');
    expect(error('log 1e3')).to.contain('log: count must be');
    expect(error('bmc b')).to.equal('bmc: the only bmc action is status; usage: bmc NODE status');
    expect(error('bmc b off')).to.contain('usage: bmc NODE status');
    expect(error('sync')).to.equal('sync: needs status or now; usage: sync status|now');
    expect(error('maintenance')).to.equal('maintenance: needs on or off; usage: maintenance on|off');
    expect(error('fence')).to.contain('fence: needs a node name');
    expect(error('fence a;rm -rf /')).to.contain('is not a node name');
    expect(error('status now')).to.equal('status: takes no arguments, got "now"; usage: status');
    expect(error('demote please')).to.contain('demote: takes no arguments');
    expect(error('help frobnicate')).to.contain('help: no command "frobnicate"');
  });

  it('unknown commands get a clear message with a bounded echo of what was typed', () => {
    expect(error('reboot-everything')).to.equal('unknown command "reboot-everything"; type help for the list');
    expect(error('x'.repeat(400))).to.have.length.below(100);
  });

  it('knows which commands mutate: promote, demote, maintenance, fence', () => {
    const mutating = CATALOG.filter((spec) => spec.mutating).map((spec) => spec.name);
    expect(mutating).to.deep.equal(['promote', 'demote', 'maintenance', 'fence']);
    expect(isMutating(command('fence b'))).to.equal(true);
    expect(isMutating(command('sync now'))).to.equal(false);
  });

  it('commandText round-trips through the parser', () => {
    for (const line of [
      'status',
      'probe 10.0.0.1 4',
      'bmc c status',
      'log 7',
      'sync now',
      'maintenance off',
      'fence b',
      'help log',
      'color on',
    ]) {
      expect(commandText(command(line))).to.equal(line);
    }
  });

  describe('fuzz (fast-check)', () => {
    it('any string: never throws, always one of empty/command/error, messages bounded', () => {
      const anyText = fc.oneof(
        fc.string({ maxLength: 600 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc
          .array(
            fc.constantFrom(
              ...CATALOG.map((s) => s.name),
              'on',
              'off',
              'now',
              'status',
              '1',
              '100000',
              '198.18.0.1',
              ' ',
              '\t',
              'b',
            ),
            { maxLength: 6 },
          )
          .map((w) => w.join(' ')),
      );
      fc.assert(
        fc.property(anyText, (line) => {
          const r: ParseResult = parseLine(line);
          expect(['empty', 'command', 'error']).to.include(r.kind);
          if (r.kind === 'error') expect(r.message.length).to.be.below(300);
          if (r.kind === 'command') expect(parseLine(commandText(r.command))).to.deep.equal(r);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
