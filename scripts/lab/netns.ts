import { spawn } from 'node:child_process';
import { exec, ip } from './exec.js';
import { OBSERVER_ADDRESS, OBSERVER_MAC, SWITCH_MAC, UPLINK_ADDRESS } from './topology.js';
import type { LabPlan } from './topology.js';

/** Runs `ip [-n NS] -batch -` once with these commands; rejects on the first failure. */
export function ipBatchOnce(netns: string | null, commands: readonly string[]): Promise<void> {
  const args = netns === null ? ['-batch', '-'] : ['-n', netns, '-batch', '-'];
  return new Promise((resolve, reject) => {
    const child = spawn('ip', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) {
        resolve();
      } else {
        reject(
          new Error(
            `ip ${args.join(' ')} failed (${String(code)}): ${stderr.trim()}\n  commands: ${commands.join('; ')}`,
          ),
        );
      }
    });
    child.stdin.end(`${commands.join('\n')}\n`);
  });
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await ip('netns', 'list');
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

export async function addNetns(name: string): Promise<void> {
  await ip('netns', 'add', name);
}

/** Deletes a namespace; one that is already gone is fine. */
export async function deleteNetns(name: string): Promise<void> {
  try {
    await ip('netns', 'del', name);
  } catch (error) {
    if (!(await listNetns()).includes(name)) {
      return;
    }
    throw error;
  }
}

export async function sysctls(netns: string, settings: Record<string, string | number>): Promise<void> {
  const args = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
  await exec('ip', ['netns', 'exec', netns, 'sysctl', '-qw', ...args]);
}

/**
 * Creates all namespaces, bridges, veths, fixed addresses and sysctls of the plan.
 * Each created namespace is pushed onto `created` at once, so a failure half-way can be undone.
 */
export async function buildNetwork(plan: LabPlan, created: string[]): Promise<void> {
  const namespaces = [plan.lanNetns, plan.mgmtNetns, plan.observerNetns, ...plan.servers.map((server) => server.netns)];
  for (const netns of namespaces) {
    await addNetns(netns);
    created.push(netns);
  }
  const noIpv6 = { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 };
  await Promise.all(namespaces.map((netns) => sysctls(netns, noIpv6)));
  await Promise.all(plan.servers.map((server) => sysctls(server.netns, { 'net.ipv4.ip_default_ttl': server.ttl })));

  await ipBatchOnce(plan.lanNetns, [
    'link set lo up',
    'link add br0 type bridge stp_state 0 forward_delay 0',
    // A fixed MAC: a bridge otherwise takes the lowest of its ports' MACs, so a port joining
    // (a stranger host) would change the uplink host's MAC under every server's ARP cache.
    `link set br0 address ${SWITCH_MAC}`,
    `address add ${UPLINK_ADDRESS} dev br0`,
    'link set br0 up',
  ]);
  await ipBatchOnce(plan.mgmtNetns, [
    'link set lo up',
    'link add br1 type bridge stp_state 0 forward_delay 0',
    ...plan.servers.map((server) => `address add ${server.bmcHost}/24 dev br1`),
    'link set br1 up',
  ]);
  await Promise.all(
    plan.servers.map((server) =>
      ipBatchOnce(server.netns, [
        'link set lo up',
        `link add eth0 address ${server.mac} type veth peer name ${server.lanPort} netns ${plan.lanNetns}`,
        `link add eth1 type veth peer name ${server.mgmtPort} netns ${plan.mgmtNetns}`,
        `address add ${server.lanAddress} dev eth0`,
        `address add ${server.mgmtAddress} dev eth1`,
        'link set eth0 up',
        'link set eth1 up',
      ]),
    ),
  );
  await ipBatchOnce(plan.observerNetns, [
    'link set lo up',
    `link add eth0 address ${OBSERVER_MAC} type veth peer name l-obs netns ${plan.lanNetns}`,
    `address add ${OBSERVER_ADDRESS} dev eth0`,
    'link set eth0 up',
  ]);
  await ipBatchOnce(plan.lanNetns, [
    ...plan.servers.map((server) => `link set ${server.lanPort} master br0 up`),
    'link set l-obs master br0 up',
  ]);
  await ipBatchOnce(
    plan.mgmtNetns,
    plan.servers.map((server) => `link set ${server.mgmtPort} master br1 up`),
  );
}
