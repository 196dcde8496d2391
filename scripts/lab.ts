/**
 * Lab CLI (compiled to dist/scripts/lab.js):
 *
 *   node dist/scripts/lab.js up [--servers 3|a,b,c] [--placeholder | --agent-command "CMD ARGS"]
 *                               [--no-agents] [--config JSON] [--keep] [--id ID]
 *                               [--bmc-off-delay-ms MS] [--bmc-ack-delay-ms MS]
 *       Builds a lab and stays in the foreground: this process is the harness and owns every
 *       child. Run it in the background of your shell (`... up &`); `down` ends it.
 *   node dist/scripts/lab.js down [--id ID]         ends the harness (or cleans up after a dead one)
 *   node dist/scripts/lab.js status [--id ID]       holders of the addresses, power, faults, observer
 *   node dist/scripts/lab.js fail NODE crash|hang|cut|bmc-down|restore [--id ID]
 *   node dist/scripts/lab.js restore NODE [KIND] [--id ID]   (one fault, or all of them)
 *   node dist/scripts/lab.js power NODE on|off [--id ID]
 *   node dist/scripts/lab.js list
 *   node dist/scripts/lab.js measure [--rounds N]   BMC latencies through ipmitool (own lab, placeholder agents)
 *   node dist/scripts/lab.js failover [--rounds N] [--config JSON] [--bmc-off-delay-ms MS] [--bmc-ack-delay-ms MS]
 *       [--fault crash|cut|silence|frozen] [--isolation]
 *       Own lab with real agents: crashes the primary N times (default 10) and prints the
 *       observer's outage per round with its breakdown, then min/median/max.
 *
 * --bmc-off-delay-ms: the BMCs acknowledge power off at once and cut the power this much
 * later, reading power:1 until then, like real hardware (default 0: at once).
 * --bmc-ack-delay-ms: added to the BMCs' response time for power commands (default 0).
 *
 * Without --id, commands use the lab named in /tmp/hotspare-lab/current (the last `up`).
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from './lab/control-server.js';
import { sleep } from './lab/exec.js';
import { cleanupDeadLab, harnessAlive, listLabRecords, readLabRecord } from './lab/lab-record.js';
import type { LabRecord } from './lab/lab-record.js';
import { FAULT_KINDS, placeholderAgent, startLab } from './lab/lab.js';
import type { AgentCommand, FaultKind, LabOptions } from './lab/lab.js';
import { measureBmc } from './lab/measure.js';
import { FAILOVER_FAULTS, isFailoverFault, measureFailover, summarize } from './lab/failover.js';
import { LAB_ROOT, agentMain } from './lab/paths.js';
import { signalIfSame } from './lab/proc-stat.js';

const CURRENT = join(LAB_ROOT, 'current');

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      const next = argv[i + 1];
      if (inline !== undefined) {
        flags.set(name, inline);
      } else if (next !== undefined && !next.startsWith('--') && takesValue(name)) {
        flags.set(name, next);
        i += 1;
      } else {
        flags.set(name, true);
      }
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags };
}

function takesValue(flag: string): boolean {
  return [
    'servers',
    'agent-command',
    'config',
    'id',
    'rounds',
    'bmc-off-delay-ms',
    'bmc-ack-delay-ms',
    'fault',
  ].includes(flag);
}

function flag(parsed: Parsed, name: string): string | undefined {
  const value = parsed.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

function fail(message: string): never {
  process.stderr.write(`lab: ${message}\n`);
  process.exit(2);
}

async function findLab(parsed: Parsed): Promise<LabRecord> {
  let id = flag(parsed, 'id');
  if (id === undefined) {
    id = (await readFile(CURRENT, 'utf8').catch(() => '')).trim();
  }
  const record = id !== '' ? await readLabRecord(id) : ((await listLabRecords())[0] ?? null);
  if (record === null) {
    fail(id !== '' ? `no lab ${id}` : 'no lab is running (start one with `up`)');
  }
  return record;
}

async function send(record: LabRecord, line: string): Promise<Record<string, unknown>> {
  if (!harnessAlive(record)) {
    fail(`the harness of lab ${record.id} (pid ${record.harnessPid}) is not running; \`down\` cleans up`);
  }
  const answer = await request(record.socket, line);
  const parsed = JSON.parse(answer) as Record<string, unknown>;
  if (parsed['ok'] !== true) {
    fail(String(parsed['error'] ?? answer));
  }
  return parsed;
}

function agentOption(parsed: Parsed): AgentCommand {
  const custom = flag(parsed, 'agent-command');
  if (custom !== undefined) {
    const argv = custom.split(/\s+/).filter((word) => word !== '');
    return () => [...argv];
  }
  if (parsed.flags.has('placeholder')) {
    return placeholderAgent;
  }
  if (!existsSync(agentMain())) {
    fail(`${agentMain()} does not exist (build the agent first, or use --placeholder)`);
  }
  return ({ configPath }) => [process.execPath, agentMain(), 'run', '--config', configPath];
}

/** `--bmc-off-delay-ms`, `--bmc-ack-delay-ms`: how the lab's BMCs behave. */
function bmcOptions(parsed: Parsed): Pick<LabOptions, 'bmcOffDelayMs' | 'bmcAckDelayMs'> {
  const read = (name: string): number => {
    const text = flag(parsed, name) ?? '0';
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) fail(`--${name}: must be a number of milliseconds >= 0, got ${text}`);
    return value;
  };
  return { bmcOffDelayMs: read('bmc-off-delay-ms'), bmcAckDelayMs: read('bmc-ack-delay-ms') };
}

function serversOption(parsed: Parsed): number | string[] {
  const servers = flag(parsed, 'servers');
  if (servers === undefined) {
    return 3;
  }
  return /^\d+$/.test(servers) ? Number(servers) : servers.split(',');
}

async function up(parsed: Parsed): Promise<void> {
  const options: LabOptions = {
    servers: serversOption(parsed),
    agentCommand: agentOption(parsed),
    startAgents: !parsed.flags.has('no-agents'),
    keepRunDir: parsed.flags.has('keep'),
    log: (line) => process.stdout.write(`${line}\n`),
    ...bmcOptions(parsed),
  };
  const config = flag(parsed, 'config');
  if (config !== undefined) {
    options.config = JSON.parse(config) as Record<string, unknown>;
  }
  const id = flag(parsed, 'id');
  if (id !== undefined) {
    options.id = id;
  }
  const lab = await startLab(options);
  await writeFile(CURRENT, `${lab.id}\n`);
  let ending = false;
  const end = (signal: string): void => {
    if (ending) {
      return;
    }
    ending = true;
    process.stdout.write(`lab ${lab.id}: ${signal}, tearing down\n`);
    void lab
      .stop()
      .then(async () => {
        if ((await readFile(CURRENT, 'utf8').catch(() => '')).trim() === lab.id) {
          await rm(CURRENT, { force: true });
        }
        process.exit(0);
      })
      .catch((error: unknown) => {
        process.stderr.write(`lab ${lab.id}: teardown failed: ${String(error)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => end('SIGTERM'));
  process.on('SIGINT', () => end('SIGINT'));
  process.on('SIGHUP', () => end('SIGHUP'));
  process.stdout.write(`${JSON.stringify({ ready: true, id: lab.id, runDir: lab.runDir, pid: process.pid })}\n`);
  // Stay alive: the harness owns the children. The control socket keeps the event loop busy.
}

async function down(parsed: Parsed): Promise<void> {
  const record = await findLab(parsed);
  if (harnessAlive(record)) {
    signalIfSame(record.harnessPid, record.harnessStartTime, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (harnessAlive(record)) {
      if (Date.now() > deadline) {
        fail(`harness ${record.harnessPid} did not end within 60 s`);
      }
      await sleep(50);
    }
    // The harness deletes its namespaces and run directory itself; anything left is stale.
    if (existsSync(record.runDir)) {
      await cleanupDeadLab(record).catch(() => undefined);
    }
    process.stdout.write(`lab ${record.id}: down\n`);
  } else {
    const removed = await cleanupDeadLab(record);
    process.stdout.write(
      `lab ${record.id}: harness was gone; removed ${removed.length} namespaces and ${record.runDir}\n`,
    );
  }
  if ((await readFile(CURRENT, 'utf8').catch(() => '')).trim() === record.id) {
    await rm(CURRENT, { force: true });
  }
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  const [command, node, kind] = parsed.positional;
  switch (command) {
    case 'up':
      return up(parsed);
    case 'down':
      return down(parsed);
    case 'status': {
      const answer = await send(await findLab(parsed), 'status');
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return;
    }
    case 'fail': {
      if (node !== undefined && kind === 'restore') {
        await send(await findLab(parsed), `restore ${node}`);
        process.stdout.write(`${node}: restored\n`);
        return;
      }
      if (node === undefined || kind === undefined || !FAULT_KINDS.includes(kind as FaultKind)) {
        fail(`usage: fail NODE ${FAULT_KINDS.join('|')}|restore`);
      }
      await send(await findLab(parsed), `fail ${node} ${kind}`);
      process.stdout.write(`${node}: ${kind}\n`);
      return;
    }
    case 'restore': {
      if (node === undefined) {
        fail('usage: restore NODE [KIND]');
      }
      await send(await findLab(parsed), `restore ${node}${kind === undefined ? '' : ` ${kind}`}`);
      process.stdout.write(`${node}: restored${kind === undefined ? '' : ` ${kind}`}\n`);
      return;
    }
    case 'power': {
      if (node === undefined || (kind !== 'on' && kind !== 'off')) {
        fail('usage: power NODE on|off');
      }
      const answer = await send(await findLab(parsed), `power ${node} ${kind}`);
      process.stdout.write(`${JSON.stringify(answer)}\n`);
      return;
    }
    case 'list': {
      for (const record of await listLabRecords()) {
        process.stdout.write(
          `${record.id}\t${harnessAlive(record) ? 'running' : 'dead'}\tpid ${record.harnessPid}\t${record.servers.join(',')}\t${record.runDir}\n`,
        );
      }
      return;
    }
    case 'measure': {
      const rounds = Number(flag(parsed, 'rounds') ?? '10');
      const lab = await startLab({ servers: 2, agentCommand: placeholderAgent, observer: false });
      try {
        const result = await measureBmc(lab, 'b', 'a', rounds);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } finally {
        await lab.stop();
      }
      return;
    }
    case 'failover': {
      const rounds = Number(flag(parsed, 'rounds') ?? '10');
      const config = flag(parsed, 'config');
      const lab = await startLab({
        config: typeof config === 'string' ? (JSON.parse(config) as Record<string, unknown>) : {},
        ...bmcOptions(parsed),
        // --isolation: the lab switch speaks SNMP and every member's port is its isolation device.
        ...(parsed.flags.has('isolation') ? { switchSnmp: true, isolation: true } : {}),
      });
      try {
        const fault = flag(parsed, 'fault') ?? 'crash';
        if (!isFailoverFault(fault)) fail(`--fault: one of ${FAILOVER_FAULTS.join(', ')}`);
        const { rounds: results, falseAlarms } = await measureFailover(
          lab,
          rounds,
          (line) => process.stdout.write(`${line}\n`),
          fault,
        );
        const keys = [
          'outageMs',
          'detectionMs',
          'fenceMs',
          'confirmMs',
          'takeoverMs',
          'announceMs',
          'bmcOffMs',
          'oursMs',
        ] as const;
        const summary = Object.fromEntries(keys.map((k) => [k, summarize(results.map((r) => r[k]))]));
        const splitBrain = lab.splitBrainViolations();
        process.stdout.write(
          `${JSON.stringify({ rounds: results.length, summary, splitBrain, falseAlarmsBetweenRounds: falseAlarms }, null, 2)}\n`,
        );
      } finally {
        await lab.stop();
      }
      return;
    }
    default:
      fail('usage: lab.js up|down|status|fail NODE KIND|restore NODE [KIND]|power NODE on|off|list|measure|failover');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`lab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
