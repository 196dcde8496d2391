/**
 * `make soak`: the fault campaign (issue 13) from the command line.
 *
 *   node dist/scripts/soak/main.js [--seed N] [--gate confirmed|isolated|lease] [--faults N]
 *        [--minutes M] [--gap-ms MS] [--out DIR] [--keep]
 *
 * Defaults: a fresh seed (printed; pass it back to replay the same schedule), the confirmed
 * gate, 1000 faults, a fault every 1.6 s on average. Environment: SOAK_SEED, SOAK_GATE,
 * SOAK_FAULTS, SOAK_MINUTES, SOAK_GAP_MS, SOAK_OUT. Writes report.json, report.md,
 * timeline.svg and record.json.gz to bench-results/soak-<date>-<gate>/ (or --out).
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot } from '../lab/paths.js';
import { runCampaign } from './campaign.js';
import { runChecks } from './checks.js';
import { GATES } from './records.js';
import type { CampaignRecord, Gate } from './records.js';
import { loadRecord, writeReport } from './report.js';

interface Args {
  seed: number;
  gate: Gate;
  faults: number;
  minutes: number;
  gapMs: number;
  out: string | null;
  keep: boolean;
}

function parse(argv: readonly string[], env: NodeJS.ProcessEnv): Args {
  const args: Args = {
    seed: env['SOAK_SEED'] !== undefined ? Number(env['SOAK_SEED']) : randomInt(1, 2 ** 31),
    gate: (env['SOAK_GATE'] ?? 'confirmed') as Gate,
    faults: Number(env['SOAK_FAULTS'] ?? 1000),
    minutes: Number(env['SOAK_MINUTES'] ?? 0),
    gapMs: Number(env['SOAK_GAP_MS'] ?? 1600),
    out: env['SOAK_OUT'] ?? null,
    keep: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      i += 1;
      return v;
    };
    if (flag === '--seed') args.seed = Number(value());
    else if (flag === '--gate') args.gate = value() as Gate;
    else if (flag === '--faults') args.faults = Number(value());
    else if (flag === '--minutes') args.minutes = Number(value());
    else if (flag === '--gap-ms') args.gapMs = Number(value());
    else if (flag === '--out') args.out = value();
    else if (flag === '--keep') args.keep = true;
    else throw new Error(`unknown argument ${String(flag)} (see the header of scripts/soak/main.ts)`);
  }
  if (!Number.isInteger(args.seed) || args.seed < 0)
    throw new Error(`--seed / SOAK_SEED: a whole number, got ${args.seed}`);
  if (!GATES.includes(args.gate)) throw new Error(`--gate / SOAK_GATE: one of ${GATES.join(', ')}, got ${args.gate}`);
  if (!(args.faults >= 0) || !(args.minutes >= 0) || args.faults + args.minutes === 0)
    throw new Error('--faults / --minutes: at least one of them more than 0');
  if (!(args.gapMs >= 100)) throw new Error(`--gap-ms / SOAK_GAP_MS: at least 100, got ${args.gapMs}`);
  return args;
}

/** The command that runs the same schedule again. */
function replayCommand(record: CampaignRecord): string {
  const { faults, durationMs, meanGapMs } = record.plan;
  return `make soak SOAK_SEED=${record.seed} SOAK_GATE=${record.gate} SOAK_FAULTS=${faults}${durationMs > 0 ? ` SOAK_MINUTES=${durationMs / 60_000}` : ''}${meanGapMs !== 1600 ? ` SOAK_GAP_MS=${meanGapMs}` : ''}`;
}

async function main(): Promise<void> {
  // Interrupted: exit through the 'exit' handlers, which remove the lab and the tmpfs mounts.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)
    process.once(signal, () => process.exit(code));
  // `--render DIR`: the checks and the report again from DIR/record.json.gz (no lab).
  if (process.argv[2] === '--render') {
    const dir = process.argv[3];
    if (dir === undefined) throw new Error('--render needs the report directory');
    const record = await loadRecord(join(dir, 'record.json.gz'));
    process.stdout.write(`${await writeReport(dir, record, runChecks(record), replayCommand(record))}\n`);
    return;
  }
  const args = parse(process.argv.slice(2), process.env);
  const date = new Date().toISOString().slice(0, 10);
  const out = args.out ?? join(repoRoot(), 'bench-results', `soak-${date}-${args.gate}`);
  const log = (line: string): void => {
    if (!line.startsWith('lab: ') || process.env['SOAK_VERBOSE'] === '1')
      process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  log(`soak: seed ${args.seed} (replay: make soak SOAK_SEED=${args.seed}), gate ${args.gate}, out ${out}`);
  const record = await runCampaign({
    seed: args.seed,
    gate: args.gate,
    faults: args.faults,
    durationMs: args.minutes * 60_000,
    meanGapMs: args.gapMs,
    settleMs: 60_000,
    observerIntervalMs: 5,
    log,
    keepRunDir: args.keep,
  });
  const summary = await writeReport(out, record, runChecks(record), replayCommand(record));
  process.stdout.write(`${summary}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
