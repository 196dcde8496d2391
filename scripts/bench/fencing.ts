/**
 * Section 2: our fence against fence_ipmilan (Debian fence-agents), same job, same ipmi_sim,
 * timed the same way: a helper process inside server a's namespace fences server b through
 * b's BMC and times each run in-process (fence-helper.ts). Beside them, from the same place
 * and in the same rounds: our Redfish client and fence_redfish against the lab's Redfish BMC
 * of b, our fence-agent backend (with fence_ipmilan), and the cut of b's switch port through
 * SNMP IF-MIB (our in-process isolator, and fence_ifmib) on the lab's switch (snmpd).
 *
 * fence_ipmilan hands the password to ipmitool as `-P PASSWORD` (visible to every local user
 * in the process list) and has no way to pass a file. So it is given no password at all and
 * `--ipmitool-path` names a small wrapper that drops its `-P ''` and runs
 * `ipmitool -f PASSWORD_FILE ...` instead: the password is on no command line. The wrapper
 * costs one `sh` exec per ipmitool run (about a millisecond), charged to fence_ipmilan.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lab/lab.js';
import { REDFISH_PORT, placeholderAgent } from '../lab/lab.js';
import { SNMP_PORT, portIfIndex, switchHost } from '../lab/snmpd.js';
import { measureBmc } from '../lab/measure.js';
import type { BmcMeasurement } from '../lab/measure.js';
import { withLab } from './labs.js';
import { distribution, ratio, round } from './stats.js';
import type { Distribution } from './stats.js';

export interface FenceMethodResult {
  name: string;
  description: string;
  runs: number;
  failures: number;
  ms: Distribution | null;
  /** ours-cycle: the power-off part (off confirmed). */
  offMs?: Distribution | null;
  firstError: string | null;
}

export interface FencingSection {
  from: string;
  target: string;
  methods: FenceMethodResult[];
  /** Medians, ours over fence_ipmilan, for the same job. */
  ratios: Record<string, number | null>;
  /** The BMC side of the lab (lab/measure.ts): ipmi_sim's chassis program and the harness. */
  bmcSide: BmcMeasurement | null;
  notes: string[];
}

export interface MethodSpec {
  name: string;
  description: string;
  method:
    | 'ours-off'
    | 'ours-cycle'
    | 'ours-status'
    | 'fence_ipmilan'
    | 'session-status'
    | 'session-off'
    | 'rmcp-status'
    | 'rmcp-off'
    | 'redfish-status'
    | 'redfish-off'
    | 'agent-off'
    | 'program'
    | 'snmp-isolate'
    | 'snmp-status'
    | 'ifmib-off';
  fenceArgs?: string[];
  restoreOn?: boolean;
  /** Extra fields of the helper's request (fence-helper.ts HelperRequest). */
  extra?: Record<string, unknown>;
}

export function helperPath(): string {
  return fileURLToPath(new URL('./fence-helper.js', import.meta.url));
}

/** The wrapper fence_ipmilan runs as ipmitool: password from a file, never on a command line. */
export function ipmitoolWrapper(passwordFile: string): string {
  return `#!/bin/sh
# fence_ipmilan was given no password, so it passes -P ''. Drop that; ipmitool reads the
# password from a file instead (the password is on no command line).
skip=0
for arg do
  shift
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  if [ "$arg" = "-P" ]; then skip=1; continue; fi
  set -- "$@" "$arg"
done
exec ipmitool -f '${passwordFile}' "$@"
`;
}

/** What the Redfish, fence-agent and switch rows need of the lab. */
export interface LabDevices {
  redfish: Record<string, unknown>;
  caFile: string;
  passwordFile: string;
  snmp: Record<string, unknown>;
  communityFile: string;
  port: string;
}

export function methods(bmcHost: string, wrapper: string, lab: LabDevices): MethodSpec[] {
  const base = [`--ip=${bmcHost}`, '--username=admin', '--lanplus', '--cipher=3', `--ipmitool-path=${wrapper}`];
  return [
    {
      name: 'redfish-status',
      description: 'one PowerState read through RedfishBmc (bmc.client redfish: in-process HTTPS, session kept open)',
      method: 'redfish-status',
      extra: { redfish: lab.redfish },
    },
    {
      name: 'redfish-off',
      description: 'our fence with bmc.client redfish: ForceOff, then PowerState reads Off, in the kept session',
      method: 'redfish-off',
      extra: { redfish: lab.redfish },
    },
    {
      name: 'fence_redfish-off',
      description:
        'fence_redfish action=off against the same lab Redfish BMC (defaults; certificate checked; options and password on stdin)',
      method: 'program',
      restoreOn: true,
      extra: {
        argv: ['fence_redfish'],
        env: { REQUESTS_CA_BUNDLE: lab.caFile },
        stdin: `action=off\nip=${bmcHost}\nipport=${REDFISH_PORT}\nusername=admin\nssl_secure=1\n`,
        stdinSecrets: { password: lab.passwordFile },
      },
    },
    {
      name: 'fence-agent-off',
      description:
        'our fence with bmc.client fence-agent (fence_ipmilan, one agent run per command): off, then status reads off',
      method: 'agent-off',
      extra: {
        agent: { name: 'fence_ipmilan', port: null, options: { lanplus: '1', cipher: '3', ipmitool_path: wrapper } },
      },
    },
    {
      name: 'snmp-isolate',
      description:
        "isolation: b's switch port set down through SNMP IF-MIB ifAdminStatus and read back (our in-process isolator, socket kept), on the lab switch (snmpd)",
      method: 'snmp-isolate',
      extra: { snmp: lab.snmp },
    },
    {
      name: 'snmp-status',
      description: "one read of b's port (ifAdminStatus, ifOperStatus) in that SNMP session",
      method: 'snmp-status',
      extra: { snmp: lab.snmp },
    },
    {
      name: 'fence_ifmib-off',
      description: "fence_ifmib action=off on b's port (one process; community on stdin)",
      method: 'ifmib-off',
      extra: {
        snmp: lab.snmp,
        argv: ['fence_ifmib'],
        stdin: `action=off\nip=${switchHost()}\nsnmp_version=2c\nplug=${lab.port}\n`,
        stdinSecrets: { community: lab.communityFile },
      },
    },
    {
      name: 'rmcp-status',
      description:
        "one Get Chassis Status through RmcpBmc (bmc.client rmcp, the lab board's default: in-process RMCP+, session kept open)",
      method: 'rmcp-status',
    },
    {
      name: 'rmcp-off',
      description:
        "our fence with bmc.client rmcp: off, then status reads off, in the kept session (the agent's off-on fence before takeover)",
      method: 'rmcp-off',
    },
    {
      name: 'ours-status',
      description: 'one `chassis power status` through IpmitoolBmc (bmc.client ipmitool: one ipmitool run)',
      method: 'ours-status',
    },
    {
      name: 'ours-off',
      description: 'our fence with bmc.client ipmitool: IpmitoolBmc off, then status reads off',
      method: 'ours-off',
    },
    { name: 'ours-cycle', description: 'power cycle confirmed: off, status off, on, status on', method: 'ours-cycle' },
    {
      name: 'fence_ipmilan-off',
      description: 'fence_ipmilan --action=off (defaults: power_wait 2 s)',
      method: 'fence_ipmilan',
      fenceArgs: [...base, '--action=off'],
      restoreOn: true,
    },
    {
      name: 'fence_ipmilan-off-wait0',
      description: 'fence_ipmilan --action=off --power-wait=0',
      method: 'fence_ipmilan',
      fenceArgs: [...base, '--action=off', '--power-wait=0'],
      restoreOn: true,
    },
    {
      name: 'fence_ipmilan-reboot',
      description: 'fence_ipmilan --action=reboot (off, confirm, on, confirm; defaults: power_wait 2 s)',
      method: 'fence_ipmilan',
      fenceArgs: [...base, '--action=reboot'],
    },
    {
      name: 'fence_ipmilan-reboot-wait0',
      description: 'fence_ipmilan --action=reboot --power-wait=0',
      method: 'fence_ipmilan',
      fenceArgs: [...base, '--action=reboot', '--power-wait=0'],
    },
    {
      name: 'session-status',
      description:
        "diagnostic: one status in an RMCP+ session kept open (ipmitool shell): the BMC's own response, no process start or session setup",
      method: 'session-status',
    },
    {
      name: 'session-off',
      description:
        'diagnostic: off, then status reads off, in a session kept open: what our fence would cost without a process and a session per command',
      method: 'session-off',
    },
  ];
}

interface RunLine {
  run?: number;
  ms?: number;
  offMs?: number;
  ok?: boolean;
  detail?: string;
  done?: boolean;
}

/** Runs the helper for `runs` runs of one method; resolves with its result lines (and stderr). */
export async function runHelper(
  lab: Lab,
  from: string,
  target: string,
  spec: MethodSpec,
  runs: number,
): Promise<{ lines: RunLine[]; stderr: string }> {
  const request = {
    method: spec.method,
    runs,
    bmc: lab.bmcOptions(target, 5000),
    fenceArgs: spec.fenceArgs,
    restoreOn: spec.restoreOn,
    ...(spec.extra ?? {}),
  };
  const helper = lab.group.spawn({
    name: `fence-helper-${spec.name}`,
    netns: lab.netnsOf(from),
    argv: [process.execPath, helperPath(), JSON.stringify(request)],
  });
  const lines: RunLine[] = [];
  let stderr = '';
  helper.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const stdout = helper.child.stdout;
  if (stdout !== null) createInterface({ input: stdout }).on('line', (line) => lines.push(JSON.parse(line) as RunLine));
  // Generous bound: fence_ipmilan's default reboot waits 2 s twice per run.
  const timer = setTimeout(() => void helper.stop(1000), Math.max(60_000, runs * 20_000));
  await helper.exited;
  clearTimeout(timer);
  return { lines: lines.filter((l) => l.run !== undefined), stderr };
}

export function summarizeMethod(
  spec: MethodSpec,
  done: readonly RunLine[],
  runs: number,
  stderr: string,
): FenceMethodResult {
  const ok = done.filter((l) => l.ok === true);
  const failed = done.filter((l) => l.ok !== true);
  return {
    name: spec.name,
    description: spec.description,
    runs: done.length,
    failures: failed.length + Math.max(0, runs - done.length),
    ms: distribution(ok.map((l) => l.ms ?? null)),
    ...(spec.method === 'ours-cycle' ? { offMs: distribution(ok.map((l) => l.offMs ?? null)) } : {}),
    firstError:
      failed[0]?.detail ??
      (done.length < runs ? `helper ended after ${done.length} runs: ${stderr.trim().slice(0, 300)}` : null),
  };
}

/** The Redfish BMC, switch port and credentials of `target` in a lab with `redfish` and `switchSnmp`. */
export async function labDevices(lab: Lab, target: string): Promise<LabDevices> {
  const ipmi = lab.bmcOptions(target);
  const port = lab.get(target).plan.lanPort;
  return {
    redfish: {
      member: target,
      host: ipmi.host,
      port: REDFISH_PORT,
      username: ipmi.username,
      passwordFile: ipmi.passwordFile,
      caFile: lab.redfishTls?.caFile ?? '',
      system: null,
      timeoutMs: 5000,
    },
    caFile: lab.redfishTls?.caFile ?? '',
    passwordFile: ipmi.passwordFile,
    snmp: {
      member: target,
      host: switchHost(),
      port: SNMP_PORT,
      communityFile: lab.snmpdFiles?.communityFile ?? '',
      ifIndex: await portIfIndex(lab.plan, port),
      timeoutMs: 2000,
      requestMs: 250,
      pollMs: 1,
    },
    communityFile: lab.snmpdFiles?.communityFile ?? '',
    port,
  };
}

export async function fencingSection(runs: number, log: (line: string) => void): Promise<FencingSection> {
  const from = 'a';
  const target = 'b';
  const labOptions = {
    servers: [from, target],
    agentCommand: placeholderAgent,
    observer: false,
    redfish: {},
    switchSnmp: true,
  };
  return withLab(labOptions, async (lab) => {
    const wrapper = join(lab.runDir, 'ipmitool-password-file.sh');
    await writeFile(wrapper, ipmitoolWrapper(lab.bmcOptions(target).passwordFile), { mode: 0o700 });
    const devices = await labDevices(lab, target);
    // Round robin, one run of each method in turn (a fresh helper each time, not timed), so a
    // change in the machine's load during the section falls on every method alike.
    const specs = methods(lab.get(target).plan.bmcHost, wrapper, devices);
    const collected = new Map<string, { lines: RunLine[]; stderr: string }>(
      specs.map((spec) => [spec.name, { lines: [], stderr: '' }]),
    );
    log(`fencing: ${specs.map((spec) => spec.name).join(', ')}: ${runs} rounds, one run of each method per round`);
    for (let round = 1; round <= runs; round += 1) {
      for (const spec of specs) {
        const { lines, stderr } = await runHelper(lab, from, target, spec, 1);
        const entry = collected.get(spec.name);
        entry?.lines.push(...lines.map((line) => ({ ...line, run: round })));
        if (entry !== undefined && stderr.trim() !== '') entry.stderr = stderr;
      }
    }
    const results = specs.map((spec) =>
      summarizeMethod(spec, collected.get(spec.name)?.lines ?? [], runs, collected.get(spec.name)?.stderr ?? ''),
    );
    for (const result of results)
      log(
        `  ${result.name}: median ${String(result.ms?.median)} ms, failures ${result.failures}${result.firstError === null ? '' : ` (${result.firstError})`}`,
      );
    log('fencing: BMC side (chassis program, harness)');
    const bmcSide = await measureBmc(lab, from, target, 5).catch((error: unknown) => {
      log(`  failed: ${String(error)}`);
      return null;
    });
    const median = (name: string): number | null => results.find((r) => r.name === name)?.ms?.median ?? null;
    return {
      from,
      target,
      methods: results,
      ratios: {
        'rmcp-off / fence_ipmilan-off-wait0': ratio(median('rmcp-off'), median('fence_ipmilan-off-wait0')),
        'rmcp-off / ours-off': ratio(median('rmcp-off'), median('ours-off')),
        'ours-off / fence_ipmilan-off': ratio(median('ours-off'), median('fence_ipmilan-off')),
        'ours-off / fence_ipmilan-off-wait0': ratio(median('ours-off'), median('fence_ipmilan-off-wait0')),
        'ours-cycle / fence_ipmilan-reboot': ratio(median('ours-cycle'), median('fence_ipmilan-reboot')),
        'ours-cycle / fence_ipmilan-reboot-wait0': ratio(median('ours-cycle'), median('fence_ipmilan-reboot-wait0')),
        'redfish-off / fence_redfish-off': ratio(median('redfish-off'), median('fence_redfish-off')),
        'fence-agent-off / fence_ipmilan-off-wait0': ratio(
          median('fence-agent-off'),
          median('fence_ipmilan-off-wait0'),
        ),
        'snmp-isolate / fence_ifmib-off': ratio(median('snmp-isolate'), median('fence_ifmib-off')),
        'snmp-isolate / rmcp-off': ratio(median('snmp-isolate'), median('rmcp-off')),
      },
      bmcSide,
      notes: [
        'Methods run round robin (one run of each per round), so load changes during the section fall on all of them.',
        `Both run inside server ${from}'s namespace against ${target}'s ipmi_sim (lanplus, cipher suite 3), timed in the same helper process from start to confirmed result.`,
        "fence_ipmilan gets its password through an ipmitool wrapper that reads it from a file (it would otherwise put it on ipmitool's command line); the wrapper adds one sh exec per ipmitool run.",
        "The lab's BMCs cut the power as they accept the command (no off delay): the fence rows measure the clients and the BMC's answer, not a real board's seconds to power off.",
        "Isolation rows cut b's bridge port in the LAN namespace through snmpd (Debian net-snmp) at the switch's address; the helper is on a's port, so its path to the switch stays up. The cut is confirmed on ifAdminStatus (snmpd serves ifOperStatus from a cache refreshed every few seconds).",
        `Per ipmitool run (ours-status median): the process start, an RMCP+ session setup and one command; our off fence is two such runs (${String(round(median('ours-status') ?? NaN))} ms each at the median).`,
      ],
    };
  });
}
