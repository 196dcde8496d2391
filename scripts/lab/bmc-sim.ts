import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagedProcess, ProcessGroup } from './children.js';
import { sleep } from './exec.js';
import { BMC_PORT, BMC_USER } from './topology.js';
import type { LabPlan, ServerPlan } from './topology.js';

/** Emulation commands: without `mc_setbmc` first, ipmi_sim 2.0 segfaults. */
export const EMULATION_COMMANDS = [
  'mc_setbmc 0x20',
  'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr',
  'mc_enable 0x20',
  '',
].join('\n');

export interface BmcFiles {
  config: string;
  emulation: string;
  stateDir: string;
  passwordFile: string;
  log: string;
}

export function bmcFiles(plan: LabPlan, server: ServerPlan): BmcFiles {
  return {
    config: join(plan.runDir, `bmc-${server.name}.conf`),
    emulation: join(plan.runDir, 'bmc.emu'),
    stateDir: join(plan.runDir, `bmc-${server.name}.state`),
    passwordFile: join(plan.runDir, `bmc-${server.name}.pass`),
    log: join(plan.runDir, `bmc-${server.name}.log`),
  };
}

export function chassisScriptPath(plan: LabPlan): string {
  return join(plan.runDir, 'chassis.sh');
}

export function powerStateFile(plan: LabPlan, server: string): string {
  return join(plan.runDir, `power-${server}`);
}

export function labSocketPath(plan: LabPlan): string {
  return join(plan.runDir, 'lab.sock');
}

/**
 * The chassis_control program, called by ipmi_sim as `chassis.sh NODE get power` or
 * `chassis.sh NODE set power 1`. Shell builtins only, no process of its own: `get` reads the
 * state file the harness keeps; `set` writes the request into the harness's request FIFO and
 * reads the answer (`ok` or an error) from the node's answer FIFO (see chassis-fifo.ts).
 */
export function chassisScript(plan: LabPlan): string {
  const run = plan.runDir;
  return `#!/bin/sh
# hotspare lab: chassis_control program of ipmi_sim. Keep it fast: its runtime is the BMC's response time.
node=$1; op=$2; shift 2
case "$op" in
get)
  for parm in "$@"; do
    case "$parm" in
      power) read -r state < "${run}/power-$node" || exit 1; echo "$state";;
      boot) echo "boot:default";;
      *) echo "unsupported parameter $parm"; exit 1;;
    esac
  done;;
set)
  echo "chassis $node $*" > "${run}/chassis.req" || { echo "lab harness unreachable"; exit 1; }
  # A FIFO reader sees end of file once every writer has closed: opened while the harness
  # was still closing the previous answer, the read ends empty. Open it again (each open
  # waits for the next writer), at most three times.
  reply=""; try=0
  while [ -z "$reply" ] && [ $try -lt 3 ]; do read -r reply < "${run}/chassis-$node.ack"; try=$((try + 1)); done
  [ -n "$reply" ] || { echo "no answer from the lab harness"; exit 1; }
  [ "$reply" = ok ] || { echo "$reply"; exit 1; };;
*) echo "unsupported operation $op"; exit 1;;
esac
`;
}

/** ipmi_sim announces IPMI 2.0 (RMCP+, lanplus) only when the LAN channel has a GUID. */
export function bmcGuid(plan: LabPlan, server: ServerPlan): string {
  const hex = Buffer.from(`hotspare${plan.id}${server.name}`, 'latin1').toString('hex');
  return hex.padEnd(32, '0').slice(0, 32);
}

/**
 * The server's SMBIOS system UUID as the lab has it: the BMC's GUID bytes read in wire order
 * (what ipmi_sim answers to Get System GUID), dashed. Members' `uuid` in the lab configs.
 */
export function systemUuid(plan: LabPlan, server: ServerPlan): string {
  const hex = bmcGuid(plan, server);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function ipmiSimConfig(plan: LabPlan, server: ServerPlan, password: string, solDevice: string): string {
  return `# hotspare lab BMC of server ${server.name}
name "bmc-${server.name}"
set_working_mc 0x20
  startlan 1
    addr ${server.bmcHost} ${BMC_PORT}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid ${bmcGuid(plan, server)}
  endlan
  chassis_control "${chassisScriptPath(plan)} ${server.name}"
  sol "${solDevice}" 115200
user 2 true "${BMC_USER}" "${password}" admin 10 none md2 md5 straight
`;
}

/** Writes the shared files (emulation commands, chassis program) once per lab. */
export async function writeSharedBmcFiles(plan: LabPlan): Promise<void> {
  await writeFile(join(plan.runDir, 'bmc.emu'), EMULATION_COMMANDS, { mode: 0o600 });
  await writeFile(chassisScriptPath(plan), chassisScript(plan), { mode: 0o700 });
}

/** Writes the password file (0600), the config and the power state file of one BMC. */
export async function writeBmcFiles(
  plan: LabPlan,
  server: ServerPlan,
  solDevice: string,
  poweredOn: boolean,
): Promise<BmcFiles> {
  const files = bmcFiles(plan, server);
  // 16 characters: the most IPMI 1.5 (interface lan) accepts.
  const password = randomBytes(8).toString('hex');
  await writeFile(files.passwordFile, password, { mode: 0o600 });
  await chmod(files.passwordFile, 0o600);
  await writeFile(files.config, ipmiSimConfig(plan, server, password, solDevice), { mode: 0o600 });
  await mkdir(files.stateDir, { recursive: true, mode: 0o700 });
  await writeFile(powerStateFile(plan, server.name), poweredOn ? 'power:1\n' : 'power:0\n', { mode: 0o644 });
  return files;
}

/** Starts ipmi_sim in the management namespace, as init of its own PID namespace. */
export async function startIpmiSim(group: ProcessGroup, plan: LabPlan, server: ServerPlan): Promise<ManagedProcess> {
  const files = bmcFiles(plan, server);
  const sim = group.spawn({
    name: `bmc-${server.name}`,
    netns: plan.mgmtNetns,
    pidNamespace: true,
    argv: ['ipmi_sim', '-n', '-c', files.config, '-f', files.emulation, '-s', files.stateDir],
    logFile: files.log,
  });
  const pid = await sim.waitInner(3000);
  await waitUdpListening(pid, server.bmcHost, BMC_PORT, 5000, sim);
  return sim;
}

/** `/proc/net/udp` spelling of an IPv4 address and port (little-endian host order on x86). */
export function procNetUdpAddress(address: string, port: number): string {
  const octets = address.split('.').map(Number);
  const hex = octets
    .reverse()
    .map((octet) => octet.toString(16).toUpperCase().padStart(2, '0'))
    .join('');
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

export async function waitUdpListening(
  pid: number,
  address: string,
  port: number,
  timeoutMs: number,
  sim: ManagedProcess,
): Promise<void> {
  const wanted = procNetUdpAddress(address, port);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!sim.running) {
      throw new Error(`${sim.name} exited before listening (${JSON.stringify(sim.exit)}); see its log`);
    }
    const table = await readFile(`/proc/${pid}/net/udp`, 'utf8').catch(() => '');
    if (table.split('\n').some((line) => line.trim().split(/\s+/)[1] === wanted)) {
      return;
    }
    await sleep(10);
  }
  throw new Error(`${sim.name} does not listen on ${address}:${port} after ${timeoutMs} ms`);
}
