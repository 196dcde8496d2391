/**
 * How late each lease enforcer drops the address after its deadline (not part of `make
 * bench`; run by hand as root): the compiled one (hal/lease/hotspare-enforcer.c) and the Node
 * one, each in a namespace of its own with a veth pair, ROUNDS deadlines 50 ms ahead,
 * optionally beside `stress-ng --cpu N`. The lateness is the enforcer's own `expired LATE_US`
 * (from the deadline to the netlink answer, or to the end of `ip addr del`).
 *
 *   node dist/scripts/bench/enforcer-lateness.js [ROUNDS] [STRESS_CPUS]
 */
import { spawn } from 'node:child_process';
import { enforcerCommand, NATIVE_ENFORCER, NODE_ENFORCER } from '../../hal/lease/linux.js';
import { exec, monoUs, sleep } from '../lab/exec.js';
import { addNetns, deleteNetns, ipBatchOnce } from '../lab/netns.js';
import { startStress } from './stress.js';
import { distribution } from './stats.js';

const ADDRESS = '198.18.206.10/24';

async function measure(name: string, argv: string[], rounds: number): Promise<number[]> {
  const netns = `hsenf-${process.pid}-${name}`;
  await addNetns(netns);
  try {
    await ipBatchOnce(netns, ['link add d0 type veth peer name d1', 'link set d1 up', 'link set d0 up']);
    const [command, ...args] = argv;
    const child = spawn('ip', ['netns', 'exec', netns, command ?? '', ...args], { stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const late: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      await exec('ip', ['netns', 'exec', netns, 'ip', 'addr', 'add', ADDRESS, 'dev', 'd0']);
      const before = out.length;
      child.stdin.write(`hold ${monoUs() + 50_000}\n`);
      const start = Date.now();
      while (!/expired (\d+)/.test(out.slice(before))) {
        if (Date.now() - start > 5000) throw new Error(`${name}: no expiry within 5 s`);
        await sleep(5);
      }
      late.push(Number(/expired (\d+)/.exec(out.slice(before))?.[1]));
    }
    child.stdin.end();
    await new Promise((resolve) => child.on('exit', resolve));
    return late;
  } finally {
    await deleteNetns(netns);
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 40);
  const cpus = Number(process.argv[3] ?? 0);
  const stress = cpus > 0 ? await startStress(cpus, 3600) : null;
  try {
    const native = enforcerCommand('d0', ADDRESS);
    if (native[0] !== NATIVE_ENFORCER) throw new Error(`${NATIVE_ENFORCER} is not built (make build)`);
    for (const [name, argv] of [
      ['compiled', native],
      ['node', [process.execPath, NODE_ENFORCER, 'd0', ADDRESS]],
    ] as const) {
      const late = await measure(name, [...argv], rounds);
      const d = distribution(late.map((us) => us / 1000));
      process.stdout.write(
        `${name}: ${rounds} deadlines, late (ms) median ${d?.median} p95 ${d?.p95} max ${d?.max}${cpus > 0 ? `, beside stress-ng --cpu ${cpus}` : ''}\n`,
      );
    }
  } finally {
    await stress?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
