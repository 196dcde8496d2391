/**
 * Cold starts of the lab (not part of `make bench`; run by hand as root): RUNS times, three
 * fresh agents booting together with no persisted role (all check the primary address first),
 * without the peer protocol, `boot.check_ms` CHECK_MS, optionally beside `stress-ng --cpu N`.
 * Per run: the intervals with two or more connected holders of the primary address (ground
 * truth from the lab's address events), the claims the claim guard stopped (`assign-failed`)
 * and the checks that backed off on hearing another prober (`contended (arp-probe ...)`).
 *
 *   node dist/scripts/bench/cold-starts.js [RUNS] [CHECK_MS] [STRESS_CPUS]
 */
import { agentLog, converged } from '../lab/cluster.js';
import { startLab } from '../lab/lab.js';
import { startStress } from './stress.js';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 20);
  const checkMs = Number(process.argv[3] ?? 50);
  const cpus = Number(process.argv[4] ?? 0);
  const config = { probe: { interval_ms: 10, timeout_ms: 10, misses: 3 }, boot: { jitter_ms: 200, check_ms: checkMs } };
  const stress = cpus > 0 ? await startStress(cpus, 3600) : null;
  let doubled = 0;
  let stopped = 0;
  let backoffs = 0;
  try {
    for (let i = 0; i < runs; i += 1) {
      const lab = await startLab({ config });
      try {
        await converged(lab);
        const violations = lab.splitBrainViolations();
        const lines = lab.serverNames().flatMap((name) => agentLog(lab, name));
        const guarded = lines.filter((l) => l.event === 'assign-failed').length;
        const contended = lines.filter(
          (l) => l.event === 'transition' && /contended \(arp-probe/.test(l.message),
        ).length;
        if (violations.length > 0) doubled += 1;
        stopped += guarded;
        backoffs += contended;
        const spans = violations.map((v) =>
          v.endUs === null
            ? `${v.servers.join('+')} to the end`
            : `${v.servers.join('+')} ${((v.endUs - v.startUs) / 1000).toFixed(1)} ms`,
        );
        console.log(`run ${i}: two holders [${spans.join(', ')}], claims stopped ${guarded}, back-offs ${contended}`);
      } finally {
        await lab.stop();
      }
    }
  } finally {
    await stress?.stop();
  }
  console.log(
    `${doubled}/${runs} cold starts with two holders; ${stopped} claims stopped by the guard; ${backoffs} back-offs on hearing a prober (check_ms ${checkMs}, stress-ng --cpu ${cpus})`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
