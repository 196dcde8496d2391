import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

describe('hotspare run: no process memory in core dumps', () => {
  it('clears /proc/self/coredump_filter, and children inherit it', function () {
    if (!existsSync('/proc/self/coredump_filter')) this.skip();
    const module = resolve(import.meta.dirname, '../../../src/cli/core-dumps.js');
    const script = [
      `const { keepMemoryOutOfCoreDumps } = await import(${JSON.stringify(module)});`,
      `const { readFileSync } = await import('node:fs');`,
      `const { execFileSync } = await import('node:child_process');`,
      `const before = readFileSync('/proc/self/coredump_filter', 'utf8').trim();`,
      `const problem = keepMemoryOutOfCoreDumps();`,
      `const after = readFileSync('/proc/self/coredump_filter', 'utf8').trim();`,
      `const child = execFileSync('cat', ['/proc/self/coredump_filter'], { encoding: 'utf8' }).trim();`,
      `console.log(JSON.stringify({ before, problem, after, child }));`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const seen = JSON.parse(r.stdout) as { before: string; problem: string | null; after: string; child: string };
    expect(Number.parseInt(seen.before, 16)).to.not.equal(0); // the default dumps memory
    expect(seen.problem).to.equal(null);
    expect(Number.parseInt(seen.after, 16)).to.equal(0);
    expect(Number.parseInt(seen.child, 16)).to.equal(0);
  });
});
