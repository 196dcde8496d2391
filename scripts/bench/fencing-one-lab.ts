/**
 * Fence and isolation times side by side, and the takeover outage with the `isolated` gate,
 * from ONE lab (issue 15's closing figures): servers a, b, c with ipmi_sim BMCs, the lab's
 * Redfish BMCs, the managed switch (snmpd) with every member's port as its isolation device,
 * BMCs that cut the power 4 s after accepting an off.
 *
 * 1. Fence rows: stand-in agents, b's BMC set to cut at once (its client and answer times,
 *    not the 4 s), a helper in a's namespace fencing b round robin (scripts/bench/fencing.ts):
 *    RMCP+ power-off, ipmitool, our Redfish client, fence_redfish, the fence-agent backend
 *    (fence_ipmilan), fence_ipmilan alone, SNMP isolation (cut + read-back), fence_ifmib.
 * 2. Outage rounds: the same lab's servers power-cycled into real agents with
 *    `fencing.gate: isolated`, b's BMC slow again (4 s); the primary's port goes silent (and,
 *    in a second series, is cut); outage from the observer's 1 ms pings (scripts/lab/failover.ts).
 *
 *   node dist/scripts/bench/fencing-one-lab.js [--fence-rounds N] [--rounds N] [--out DIR]
 *
 * Writes DIR/one-lab.json and DIR/one-lab.md (default bench-results/fencing-<UTC date>).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { converged } from '../lab/cluster.js';
import { monoUs } from '../lab/exec.js';
import { measureFailover, summarize } from '../lab/failover.js';
import type { FailoverFault, FailoverRound } from '../lab/failover.js';
import { placeholderAgent, realAgent } from '../lab/lab.js';
import type { AgentCommand } from '../lab/lab.js';
import { installSignalCleanup } from './cleanup.js';
import { ipmitoolWrapper, labDevices, methods, runHelper, summarizeMethod } from './fencing.js';
import type { FenceMethodResult } from './fencing.js';
import { withLab } from './labs.js';
import { loadSample, machineFacts } from './machine.js';
import type { LoadSample, MachineFacts } from './machine.js';

const BMC_OFF_DELAY_MS = 4000;
/** The rows of this run (fencing.ts has more: cycles, ipmitool shell diagnostics). */
const ROWS = [
  'rmcp-off',
  'ours-off',
  'redfish-off',
  'fence_redfish-off',
  'fence-agent-off',
  'fence_ipmilan-off-wait0',
  'snmp-isolate',
  'fence_ifmib-off',
  'rmcp-status',
  'redfish-status',
  'snmp-status',
];

interface OutageSeries {
  fault: FailoverFault;
  rounds: FailoverRound[];
  falseAlarms: number;
  outageMs: ReturnType<typeof summarize>;
  detectionMs: ReturnType<typeof summarize>;
  fenceMs: ReturnType<typeof summarize>;
  confirmMs: ReturnType<typeof summarize>;
  takeoverMs: ReturnType<typeof summarize>;
  announceMs: ReturnType<typeof summarize>;
  bmcOffMs: ReturnType<typeof summarize>;
}

interface OneLabResults {
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineFacts;
  load: { start: LoadSample; afterFences: LoadSample; end: LoadSample };
  conditions: string[];
  fences: { from: string; target: string; rounds: number; methods: FenceMethodResult[] };
  outages: OutageSeries[];
}

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

async function main(): Promise<void> {
  installSignalCleanup();
  const fenceRounds = Number(arg('fence-rounds', '10'));
  const rounds = Number(arg('rounds', '5'));
  const startedAt = new Date().toISOString();
  const out = arg('out', join('bench-results', `fencing-${startedAt.slice(0, 10)}`));
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const start = loadSample();
  log(`fencing-one-lab: load average ${start.loadavg.join(' ')}`);
  // Stand-in agents for the fence rows; real ones once the servers are power-cycled.
  let real = false;
  const agentCommand: AgentCommand = (context) => (real ? realAgent(context) : placeholderAgent(context));
  const results = await withLab(
    {
      servers: 3,
      agentCommand,
      redfish: {},
      switchSnmp: true,
      isolation: true,
      bmcOffDelayMs: BMC_OFF_DELAY_MS,
      config: { fencing: { gate: 'isolated' } },
    },
    async (lab) => {
      const from = 'a';
      const target = 'b';
      const wrapper = join(lab.runDir, 'ipmitool-password-file.sh');
      await writeFile(wrapper, ipmitoolWrapper(lab.bmcOptions(target).passwordFile), { mode: 0o700 });
      const specs = methods(lab.get(target).plan.bmcHost, wrapper, await labDevices(lab, target)).filter((m) =>
        ROWS.includes(m.name),
      );
      lab.bmcPower.setOffDelayMs(target, 0);
      const collected = new Map(specs.map((spec) => [spec.name, { lines: [] as object[], stderr: '' }]));
      log(`fences: ${specs.map((s) => s.name).join(', ')}: ${fenceRounds} rounds, round robin`);
      for (let round = 1; round <= fenceRounds; round += 1) {
        for (const spec of specs) {
          const { lines, stderr } = await runHelper(lab, from, target, spec, 1);
          const entry = collected.get(spec.name);
          entry?.lines.push(...lines.map((line) => ({ ...line, run: round })));
          if (entry !== undefined && stderr.trim() !== '') entry.stderr = stderr;
        }
      }
      const fenceMethods = specs.map((spec) =>
        summarizeMethod(
          spec,
          (collected.get(spec.name)?.lines ?? []) as Parameters<typeof summarizeMethod>[1],
          fenceRounds,
          collected.get(spec.name)?.stderr ?? '',
        ),
      );
      for (const m of fenceMethods)
        log(
          `  ${m.name}: median ${String(m.ms?.median)} ms (min ${String(m.ms?.min)}, max ${String(m.ms?.max)}), failures ${m.failures}`,
        );
      lab.bmcPower.setOffDelayMs(target, null);
      const afterFences = loadSample();

      // The same servers, now with real agents.
      real = true;
      for (const name of lab.serverNames()) await lab.powerOff(name, 'harness');
      for (const name of lab.serverNames()) await lab.powerOn(name, 'harness');
      await converged(lab, 60_000);
      const outages: OutageSeries[] = [];
      for (const fault of ['silence', 'cut'] as const) {
        log(`outage: ${rounds} rounds, fault ${fault}, gate isolated, BMCs off 4 s after the command`);
        const seriesUs = monoUs();
        const run = await measureFailover(lab, rounds, log, fault);
        // The BMCs' own off (accepted -> power gone), from the lab's power log: the takeover
        // did not wait for it (failover.ts looks right after the takeover, before it happened).
        const bmcOffs = lab.powerLog
          .filter((p) => !p.on && p.source === 'bmc' && p.commandUs >= seriesUs)
          .map((p) => Math.round((p.doneUs - p.commandUs) / 10) / 100);
        const pick = (key: keyof FailoverRound): ReturnType<typeof summarize> =>
          summarize(run.rounds.map((r) => r[key] as number | null));
        outages.push({
          fault,
          rounds: run.rounds,
          falseAlarms: run.falseAlarms.length,
          outageMs: pick('outageMs'),
          detectionMs: pick('detectionMs'),
          fenceMs: pick('fenceMs'),
          confirmMs: pick('confirmMs'),
          takeoverMs: pick('takeoverMs'),
          announceMs: pick('announceMs'),
          bmcOffMs: summarize(bmcOffs),
        });
      }
      const violations = lab.splitBrainViolations();
      if (violations.length > 0) throw new Error(`split brain in the outage rounds: ${JSON.stringify(violations)}`);
      return { fenceMethods, afterFences, outages };
    },
  );
  const finishedAt = new Date().toISOString();
  const report: OneLabResults = {
    command: `node dist/scripts/bench/fencing-one-lab.js --fence-rounds ${fenceRounds} --rounds ${rounds} --out ${out}`,
    startedAt,
    finishedAt,
    machine: machineFacts(),
    load: { start, afterFences: results.afterFences, end: loadSample() },
    conditions: [
      'One lab for every row: servers a, b, c in network namespaces, ipmi_sim BMCs (lanplus, cipher suite 3), the lab Redfish BMCs (HTTPS, lab CA), snmpd as the managed switch with every member port its isolation device.',
      "Fence rows: stand-in agents; a helper in a's namespace fences b round robin, one run of each method per round; b's BMC cuts the power as it accepts (client and BMC answer times, not a board's seconds to power off).",
      "Outage rounds: the same servers power-cycled into real agents (probe 5 ms / 10 ms / 5 misses, fencing.gate isolated), BMCs that cut the power 4 s after accepting an off; outage = the observer's 1 ms pings to the primary address, last reply before the fault to the first from the new primary.",
      "silence: the primary's switch port stops forwarding with its link up (it keeps the address); cut: its port goes down.",
    ],
    fences: { from: 'a', target: 'b', rounds: fenceRounds, methods: results.fenceMethods },
    outages: results.outages,
  };
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'one-lab.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(out, 'one-lab.md'), markdown(report));
  log(`written: ${join(out, 'one-lab.json')}, ${join(out, 'one-lab.md')}`);
}

function markdown(r: OneLabResults): string {
  const n = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : String(v));
  const lines = [
    `# Fence, isolation and isolated-gate outage from one lab (${r.startedAt.slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `\`${r.command}\` on ${r.machine.hostname}: ${r.machine.nproc} × ${r.machine.cpuModel}, Linux ${r.machine.kernel}, Node ${r.machine.node}, ${r.machine.os}; fence-agents ${r.machine.packages['fence-agents'] ?? '?'}.`,
    `Load average ${r.load.start.loadavg.join(' ')} at the start, ${r.load.afterFences.loadavg.join(' ')} after the fence rows, ${r.load.end.loadavg.join(' ')} at the end (${r.startedAt} to ${r.finishedAt}).`,
    '',
    ...r.conditions.map((c) => `- ${c}`),
    '',
    `## Fence and isolation, ${r.fences.from} fencing ${r.fences.target}, ${r.fences.rounds} rounds`,
    '',
    '| row | what | median ms | min | max | failures |',
    '|---|---|---|---|---|---|',
    ...r.fences.methods.map(
      (m) =>
        `| ${m.name} | ${m.description} | ${n(m.ms?.median)} | ${n(m.ms?.min)} | ${n(m.ms?.max)} | ${m.failures} |`,
    ),
    '',
    '## Takeover outage, fencing.gate isolated, BMCs off 4 s after the command',
    '',
    '| fault | rounds | outage median ms | min | max | detection | fence (cut + read-back) | confirm | claim | announce | BMC off (ms) | false alarms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.outages.map(
      (o) =>
        `| ${o.fault} | ${o.rounds.length} | ${n(o.outageMs?.median)} | ${n(o.outageMs?.min)} | ${n(o.outageMs?.max)} | ${n(o.detectionMs?.median)} | ${n(o.fenceMs?.median)} | ${n(o.confirmMs?.median)} | ${n(o.takeoverMs?.median)} | ${n(o.announceMs?.median)} | ${n(o.bmcOffMs?.median)} | ${o.falseAlarms} |`,
    ),
    '',
    'Breakdown columns are medians of the rounds (scripts/lab/failover.ts); "BMC off" is the median of the BMCs\' own time from accepting the off to the power going (lab power log), which the takeover did not wait for.',
    '',
  ];
  return lines.join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`fencing-one-lab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
