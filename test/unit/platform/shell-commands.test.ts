/**
 * Hooks and health commands (src/platform/shell-commands.ts) with real /bin/sh processes:
 * the time limit ends the whole process group at the deadline, and a command whose shell
 * exits is done even when something it started in the background still holds its pipes.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ShellCommands } from '../../../src/platform/shell-commands.js';

/** Live (not zombie) processes whose process group is `pgid`, read from /proc. */
function liveMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // Fields after the command name "(...)": state, ppid, pgrp.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') out.push(Number(entry));
  }
  return out;
}

/** Polls until `pgid` has no live members or `ms` pass; returns the members left. */
async function groupGone(pgid: number, ms: number): Promise<number[]> {
  const deadline = performance.now() + ms;
  for (;;) {
    const left = liveMembers(pgid);
    if (left.length === 0 || performance.now() > deadline) return left;
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('shell commands (hooks, health checks): time limit and process groups', function () {
  this.timeout(15_000);
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'hotspare-commands-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sleep 4 with a 300 ms limit resolves as a timeout well before 4 s and leaves no process behind', async () => {
    const pidFile = join(dir, 'pid');
    const started = performance.now();
    const result = await new ShellCommands().run(`echo $$ > ${pidFile}; sleep 4; echo after`, {}, 300);
    const elapsedMs = performance.now() - started;
    expect(result).to.include({ ok: false, status: 'timeout' });
    expect(elapsedMs).to.be.below(1500);
    expect(await groupGone(Number(readFileSync(pidFile, 'utf8')), 1000)).to.deep.equal([]);
  });

  it('a background child holding the pipes does not turn a success into a timeout', async () => {
    const pidFile = join(dir, 'pid');
    const started = performance.now();
    const result = await new ShellCommands().run(`echo $$ > ${pidFile}; sleep 30 & echo started`, {}, 3000);
    const elapsedMs = performance.now() - started;
    expect(result).to.deep.equal({ ok: true, status: '0', output: 'started' });
    expect(elapsedMs).to.be.below(1500);
    // The background child is the command's leftover: cleaned up with its group.
    expect(await groupGone(Number(readFileSync(pidFile, 'utf8')), 1000)).to.deep.equal([]);
  });

  it('exit codes, output and the environment still come through', async () => {
    const result = await new ShellCommands().run(
      'echo "$HOTSPARE_ROLE" >&2; exit 3',
      { HOTSPARE_ROLE: 'primary' },
      5000,
    );
    expect(result).to.deep.equal({ ok: false, status: '3', output: 'primary' });
    expect(await new ShellCommands().run('true', {}, 5000)).to.deep.equal({ ok: true, status: '0', output: '' });
  });
});
