/**
 * Issue 12 #16b in the lab: an RMCP+ client killed (SIGKILL) 50 times in a row against one
 * ipmi_sim BMC, each run closing what the previous one left open (the session journal in its
 * state directory, as the agent does at start), leaves the BMC able to open a session; for
 * contrast, the same without the journal (printed, not asserted).
 * Needs root:  npx mocha --no-config --timeout 120000 dist/test/lab/bmc-sessions-restart.test.js
 *
 * ipmi_sim (OpenIPMI lanserv) holds at most 63 sessions on its LAN channel, all users
 * together (the per-user limit in its `user` line is not enforced), and forgets a session
 * after 30 s without traffic; neither is configurable. Each run here asks the BMC how many
 * sessions it holds (Get Session Info), so the count is checked at every restart.
 *
 * Each run is this file as a child in server b's namespace (`--restart-child`): it opens a
 * session to a's BMC the way the agent does (the file journal, the leftovers closed through a
 * fresh session, which stays open), prints one JSON line and waits to be killed.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RmcpSession } from '../../hal/bmc/rmcp/session.js';
import type { RmcpSessionOptions } from '../../hal/bmc/rmcp/session.js';
import { isBmcError } from '../../hal/errors/bmc-error.js';
import { FileSessionJournal } from '../../src/platform/bmc-session-journal.js';
import type { ManagedProcess } from '../../scripts/lab/children.js';
import { placeholderAgent, startLab } from '../../scripts/lab/lab.js';
import type { Lab } from '../../scripts/lab/lab.js';

const THIS_FILE = fileURLToPath(import.meta.url);

interface RunAnswer {
  ok: boolean;
  /** Leftovers closed, by outcome. */
  reclaimed?: string[];
  /** Sessions the BMC holds (all users), and the most it can. */
  active?: number;
  possible?: number;
  kind?: string | null;
  message?: string;
}

// ---- child side ----------------------------------------------------------------------------

async function runChild(optionsJson: string, stateDir: string, mode: string): Promise<void> {
  const options = JSON.parse(optionsJson) as RmcpSessionOptions;
  const say = (answer: RunAnswer): void => {
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  };
  try {
    const journal = mode === 'none' ? undefined : new FileSessionJournal(stateDir, (line) => console.error(line));
    const session = new RmcpSession(options, journal === undefined ? {} : { journal });
    const outcomes = journal === undefined ? (await session.open(), []) : await session.reclaim(journal.leftovers());
    // Get Session Info, index 0 (this session): byte 2 possible sessions, byte 3 active ones.
    const info = await session.command('session-info', 0x06, 0x3d, Buffer.from([0]));
    say({ ok: true, reclaimed: outcomes.map((o) => o.outcome), active: info[2] ?? -1, possible: info[1] ?? -1 });
    if (mode === 'close') await session.close();
  } catch (error) {
    say({
      ok: false,
      kind: isBmcError(error) ? error.kind : null,
      message: error instanceof Error ? error.message : String(error),
    });
  }
  if (mode === 'close') return;
  // Stay (the session kept alive by the driver) until killed.
  setInterval(() => undefined, 1 << 30);
}

if (process.argv[1] === THIS_FILE && process.argv[2] === '--restart-child') {
  void runChild(process.argv[3] ?? '{}', process.argv[4] ?? '', process.argv[5] ?? 'journal');
} else {
  labTests();
}

// ---- harness side --------------------------------------------------------------------------

function labTests(): void {
  describe('RMCP+ sessions of killed agents against ipmi_sim (issue 12 #16b)', function () {
    this.timeout(150_000);
    let lab: Lab | null = null;
    let stateDir = '';
    let options: RmcpSessionOptions | null = null;

    before(async () => {
      lab = await startLab({ servers: 2, agentCommand: placeholderAgent, observer: false });
      stateDir = await mkdtemp(join(lab.runDir, 'client-state-'));
      const { interface: _lanplus, ...rest } = lab.bmcOptions('a', 3000);
      options = { ...rest, keepaliveMs: 10_000 };
    });

    after(async () => {
      await lab?.stop();
      if (stateDir !== '') await rm(stateDir, { recursive: true, force: true });
    });

    /** One run: started, its JSON line read, then SIGKILLed (or left to exit, for `close`). */
    async function run(mode: 'journal' | 'none' | 'close'): Promise<RunAnswer> {
      if (lab === null || options === null) throw new Error('lab not started');
      const child: ManagedProcess = lab.group.spawn({
        name: `session-run-${mode}`,
        netns: lab.netnsOf('b'),
        argv: [process.execPath, THIS_FILE, '--restart-child', JSON.stringify(options), stateDir, mode],
      });
      child.child.stderr?.on('data', (chunk: Buffer) => console.log(`      run: ${chunk.toString('utf8').trim()}`));
      try {
        const stdout = child.child.stdout;
        if (stdout === null) throw new Error('run without stdout');
        const lines = createInterface({ input: stdout });
        const line = await Promise.race([
          new Promise<string>((resolve) => lines.once('line', resolve)),
          child.exited.then(() =>
            Promise.reject(new Error(`run exited without an answer: ${JSON.stringify(child.exit)}`)),
          ),
          new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no answer in 15 s')), 15_000).unref()),
        ]);
        return JSON.parse(line) as RunAnswer;
      } finally {
        child.expectedExit = true;
        if (mode !== 'close') child.signal('SIGKILL');
        await child.stop(2000);
      }
    }

    it('50 runs SIGKILLed in a row, each closing what the last left: the BMC keeps opening sessions', async () => {
      const actives: number[] = [];
      const started = Date.now();
      for (let i = 0; i < 50; i += 1) {
        const answer = await run('journal');
        expect(answer.ok, `run ${i + 1}: ${JSON.stringify(answer)}`).to.equal(true);
        // From the second run on, the previous run's session is closed through the new one.
        if (i > 0) expect(answer.reclaimed, `run ${i + 1}`).to.deep.equal(['closed']);
        actives.push(answer.active ?? -1);
      }
      const elapsed = Date.now() - started;
      // The previous run's session closed, only this run's is left (a stray one at most).
      expect(Math.max(...actives)).to.be.at.most(2);
      const last = await run('close');
      expect(last.ok, JSON.stringify(last)).to.equal(true);
      expect(last.reclaimed).to.deep.equal(['closed']);
      console.log(
        `      with the journal: 50 runs killed in ${elapsed} ms; sessions held by the BMC after each run: max ${Math.max(...actives)}, last ${actives.at(-1)}; a 51st run opens a session and closes it`,
      );
    });

    it('for contrast, without the journal: the leftovers pile up until the BMC refuses (printed)', async () => {
      const actives: number[] = [];
      const started = Date.now();
      let refused: RunAnswer | null = null;
      // ipmi_sim forgets idle sessions after 30 s: stop before that, or at the first refusal.
      while (refused === null && actives.length < 70 && Date.now() - started < 25_000) {
        const answer = await run('none');
        if (!answer.ok) refused = answer;
        else actives.push(answer.active ?? -1);
      }
      console.log(
        refused === null
          ? `      without the journal: ${actives.length} runs in ${Date.now() - started} ms, not refused yet; sessions held after each: ${actives.join(' ')}`
          : `      without the journal: refused at run ${actives.length + 1} after ${Date.now() - started} ms (${refused.kind ?? ''}: ${refused.message ?? ''}); sessions held before: ${actives.at(-1)}`,
      );
    });
  });
}
