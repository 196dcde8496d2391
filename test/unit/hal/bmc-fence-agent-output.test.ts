/**
 * hal/bmc/fence-agent.ts and fence-agent-output.ts: the stdin protocol, the exit-code and
 * output mapping and the deadline, against a fake agent (a shell script that records what it
 * was given and answers as the mode in its stdin says). No root, no network.
 */
import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FenceAgentBmc, fenceAgentStdin } from '../../../hal/bmc/fence-agent.js';
import type { FenceAgentBmcOptions } from '../../../hal/bmc/fence-agent.js';
import { interpretFenceAgent } from '../../../hal/bmc/fence-agent-output.js';
import type { FenceAgentRun } from '../../../hal/bmc/fence-agent-output.js';
import { isBmcError } from '../../../hal/errors/bmc-error.js';
import type { BmcErrorKind } from '../../../hal/errors/bmc-error.js';

const PASSWORD = 'Fake-Agent-Secret-42';

/**
 * The fake agent: stores its stdin and argv next to itself, then acts on `fake_mode`. `hang`
 * leaves a grandchild (sleep) behind it, whose PID it writes down, to show the group is killed.
 */
const FAKE_AGENT = `#!/bin/sh
dir=$(dirname "$0")
input=$(cat)
printf '%s\\n' "$input" > "$dir/stdin.txt"
printf '%s\\n' "$*" > "$dir/argv.txt"
mode=$(printf '%s\\n' "$input" | sed -n 's/^fake_mode=//p')
pw=$(printf '%s\\n' "$input" | sed -n 's/^password=//p')
case "$mode" in
  status-on) echo "Status: ON"; exit 0;;
  status-off) echo "Status: OFF"; exit 2;;
  status-garbage) echo "Status: MAYBE"; exit 0;;
  ok) echo "Success: Powered OFF"; exit 0;;
  not-yet) echo "2026-12-02 10:00:00,000 ERROR: Failed: Timed out waiting to power OFF" >&2; exit 1;;
  not-yet-on) echo "2026-12-02 10:00:00,000 ERROR: Failed: Timed out waiting to power ON" >&2; exit 1;;
  rakp) printf '> RAKP 2 HMAC is invalid\\nError: Unable to establish IPMI v2 / RMCP+ session\\nERROR: Failed: Unable to obtain correct plug status or plug is not available\\n' >&2; exit 1;;
  login) echo "ERROR: Unable to connect/login to fencing device" >&2; exit 1;;
  http401) echo "DEBUG: Redfish status code: 401 for GET /redfish/v1" >&2; echo "ERROR: Failed: Unable to obtain correct plug status or plug is not available" >&2; exit 1;;
  conn-timeout) echo "ERROR: Connection timed out" >&2; exit 1;;
  refused) echo "DEBUG: [Errno 111] Connection refused" >&2; echo "ERROR: Unable to connect/login to fencing device" >&2; exit 1;;
  echo-password) echo "DEBUG: weird agent says password=$pw" >&2; exit 1;;
  silent) exit 1;;
  hang) sleep 30 & echo $! > "$dir/grandchild.pid"; wait;;
  *) echo "unknown mode $mode" >&2; exit 1;;
esac
`;

async function kindOf(promise: Promise<unknown>): Promise<BmcErrorKind | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (isBmcError(error)) return error.kind;
    throw error;
  }
}

describe('hal/bmc/fence-agent', () => {
  let dir: string;
  let agent: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotspare-fence-agent-'));
    agent = join(dir, 'fence_fake');
    writeFileSync(agent, FAKE_AGENT);
    chmodSync(agent, 0o755);
    writeFileSync(join(dir, 'pass'), `${PASSWORD}\n`, { mode: 0o600 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function options(mode: string, change: Partial<FenceAgentBmcOptions> = {}): FenceAgentBmcOptions {
    return {
      member: 'a',
      agent,
      host: '198.18.1.11',
      port: 623,
      username: 'admin',
      passwordFile: join(dir, 'pass'),
      plug: null,
      options: { fake_mode: mode, lanplus: '1' },
      timeoutMs: 3000,
      ...change,
    };
  }

  function stdinLines(): Map<string, string> {
    const text = readFileSync(join(dir, 'stdin.txt'), 'utf8');
    return new Map(
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
    );
  }

  it('passes everything on stdin, the password only there, and reads status 0 as on, 2 as off', async () => {
    expect(await new FenceAgentBmc(options('status-on')).status()).to.equal('on');
    const lines = stdinLines();
    expect(lines.get('action')).to.equal('status');
    expect(lines.get('ip')).to.equal('198.18.1.11');
    expect(lines.get('ipport')).to.equal('623');
    expect(lines.get('username')).to.equal('admin');
    expect(lines.get('password')).to.equal(PASSWORD);
    expect(lines.get('lanplus')).to.equal('1');
    expect(readFileSync(join(dir, 'argv.txt'), 'utf8').trim()).to.equal('');
    expect(await new FenceAgentBmc(options('status-off')).status()).to.equal('off');
  });

  it('off asks the agent not to wait (power_wait=0, one read), on does not retry, cycle is reboot with method=cycle', async () => {
    await new FenceAgentBmc(options('ok')).off();
    let lines = stdinLines();
    expect([lines.get('action'), lines.get('power_wait'), lines.get('power_timeout')]).to.deep.equal(['off', '0', '1']);
    expect(lines.get('stonith_status_sleep')).to.equal('0');
    await new FenceAgentBmc(options('ok')).on();
    lines = stdinLines();
    expect([lines.get('action'), lines.get('retry_on')]).to.deep.equal(['on', '0']);
    await new FenceAgentBmc(options('ok')).cycle();
    lines = stdinLines();
    expect([lines.get('action'), lines.get('method'), lines.get('power_wait')]).to.deep.equal(['reboot', 'cycle', '0']);
  });

  it('"Timed out waiting to power OFF/ON" after the one read is an accepted command', async () => {
    expect(await kindOf(new FenceAgentBmc(options('not-yet')).off())).to.equal('ok');
    expect(await kindOf(new FenceAgentBmc(options('not-yet-on')).on())).to.equal('ok');
    // The same message for the other operation is no acknowledgement of this one.
    expect(await kindOf(new FenceAgentBmc(options('not-yet')).on())).to.equal('refused');
  });

  it('maps failures to kinds: RAKP and HTTP 401 auth, login auth, connection timeout, refused connection', async () => {
    expect(await kindOf(new FenceAgentBmc(options('rakp')).status())).to.equal('auth');
    expect(await kindOf(new FenceAgentBmc(options('http401')).status())).to.equal('auth');
    expect(await kindOf(new FenceAgentBmc(options('login')).status())).to.equal('auth');
    expect(await kindOf(new FenceAgentBmc(options('conn-timeout')).off())).to.equal('timeout');
    expect(await kindOf(new FenceAgentBmc(options('refused')).status())).to.equal('unreachable');
    expect(await kindOf(new FenceAgentBmc(options('status-garbage')).status())).to.equal('garbage');
    expect(await kindOf(new FenceAgentBmc(options('silent')).off())).to.equal('garbage');
  });

  it('an agent that echoes the password does not get it into the error', async () => {
    const error = await new FenceAgentBmc(options('echo-password')).status().then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBmcError(error)).to.equal(true);
    expect((error as Error).message).to.contain('[secret]');
    expect((error as Error).message).to.not.contain(PASSWORD);
  });

  it('a hanging agent is timeout at the deadline, and its whole process group is killed', async () => {
    const started = performance.now();
    const error = await new FenceAgentBmc(options('hang', { timeoutMs: 400 })).off().then(
      () => null,
      (e: unknown) => e,
    );
    const tookMs = performance.now() - started;
    expect(isBmcError(error) && error.kind).to.equal('timeout');
    expect(tookMs).to.be.within(390, 1500);
    const grandchild = Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8'));
    // Dead: gone, or a zombie nobody reaps (PID 1 here does not).
    const deadline = Date.now() + 2000;
    let state = 'R';
    while (Date.now() < deadline) {
      try {
        state = readFileSync(`/proc/${grandchild}/stat`, 'utf8').split(') ')[1]?.[0] ?? 'R';
      } catch {
        state = 'gone';
      }
      if (state === 'gone' || state === 'Z') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(state).to.be.oneOf(['gone', 'Z']);
  });

  it('a missing agent is unreachable; an unreadable or multi-line password file is auth, before any run', async () => {
    expect(await kindOf(new FenceAgentBmc(options('ok', { agent: join(dir, 'fence_none') })).status())).to.equal(
      'unreachable',
    );
    expect(await kindOf(new FenceAgentBmc(options('ok', { passwordFile: join(dir, 'nope') })).status())).to.equal(
      'auth',
    );
    writeFileSync(join(dir, 'two-lines'), 'first\nsecond\n');
    expect(await kindOf(new FenceAgentBmc(options('ok', { passwordFile: join(dir, 'two-lines') })).off())).to.equal(
      'auth',
    );
  });

  it('board options cannot replace the identity or the password; port null and plug are passed as written', () => {
    expect(() => new FenceAgentBmc(options('ok', { options: { password: 'x' } }))).to.throw(/set by the driver/);
    expect(() => new FenceAgentBmc(options('ok', { options: { ip: 'x' } }))).to.throw(/set by the driver/);
    const text = fenceAgentStdin(
      options('ok', { port: null, plug: 'Gi0/3', options: { power_wait: '5' } }),
      'off',
      PASSWORD,
    );
    expect(text).to.not.match(/^ipport=/m);
    expect(text).to.match(/^plug=Gi0\/3$/m);
    // The board may change the timing on purpose.
    expect(text).to.match(/^power_wait=5$/m);
    expect(text.endsWith(`password=${PASSWORD}\n`)).to.equal(true);
  });

  it('interpretFenceAgent: a status exit code that disagrees with the status line is garbage', () => {
    const run = (partial: Partial<FenceAgentRun>): FenceAgentRun => ({
      stdout: '',
      stderr: '',
      exitCode: 0,
      signal: null,
      timedOut: false,
      ...partial,
    });
    expect(interpretFenceAgent('fence_x', 'status', run({ stdout: 'Status: OFF\n', exitCode: 0 }))).to.include({
      ok: false,
      kind: 'garbage',
    });
    expect(interpretFenceAgent('fence_x', 'status', run({ stdout: 'Status: ON\n', exitCode: 2 }))).to.include({
      ok: false,
      kind: 'garbage',
    });
    expect(interpretFenceAgent('fence_x', 'off', run({ timedOut: true, exitCode: null }))).to.include({
      ok: false,
      kind: 'timeout',
    });
  });
});
