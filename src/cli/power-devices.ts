/**
 * The devices that fence and isolate other members, built from the config beside the BMC
 * factory (run.ts `openBmcs`): each member's fencing levels (its BMC first, then the devices
 * of `members[].fence_levels`) and its switch port (`members[].isolation`).
 */
import { readFileSync } from 'node:fs';
import { FenceAgentBmc } from '../../hal/bmc/fence-agent.js';
import type { Bmc, BmcFactory } from '../../hal/bmc/index.js';
import { IpmitoolBmc } from '../../hal/bmc/ipmitool.js';
import { RedfishBmc } from '../../hal/bmc/redfish/index.js';
import type { TlsCheck } from '../../hal/bmc/redfish/index.js';
import { NO_ISOLATORS } from '../../hal/isolation/index.js';
import type { IsolatorFactory } from '../../hal/isolation/index.js';
import { SnmpIsolatorFactory } from '../../hal/isolation/snmp.js';
import type { FenceLevel, FenceLevels } from '../agent/index.js';
import type { Config, FenceLevelConfig, Member, RedfishBoard } from '../config/index.js';

/** One SNMP request's wait before it is sent again, and the pause between read-backs. */
const SNMP_REQUEST_MS = 250;
const SNMP_POLL_MS = 2;
const IPMI_PORT = 623;
const REDFISH_PORT = 443;

/**
 * The members' switch ports: an SNMP IF-MIB isolator per member with `isolation`, one kept
 * socket per switch; NO_ISOLATORS when no member has one. The caller closes it at shutdown
 * (`closeAll`).
 */
export function openIsolators(config: Config): IsolatorFactory & { closeAll(): void } {
  const members = config.cluster.members.flatMap((m) =>
    m.isolation === null
      ? []
      : [
          {
            member: m.name,
            host: m.isolation.host,
            port: m.isolation.port,
            communityFile: m.isolation.communityFile,
            ifIndex: m.isolation.ifIndex,
            timeoutMs: m.isolation.timeoutMs,
            requestMs: Math.min(SNMP_REQUEST_MS, m.isolation.timeoutMs),
            pollMs: SNMP_POLL_MS,
          },
        ],
  );
  if (members.length === 0) return { ...NO_ISOLATORS, closeAll: () => undefined };
  return new SnmpIsolatorFactory(members);
}

/** Why fencing through a member's BMC is refused now (its identity check), or null. */
export type BmcRefusal = (member: string) => string | null;

/**
 * Every member's fencing levels: level 1 its BMC (from `bmcs`, when it has one), then one
 * device per `fence_levels` entry, each kept (a Redfish level keeps its session). Null when no
 * member has levels and nothing refuses a BMC: PowerControl then uses the BMC alone.
 */
export function openFenceLevels(
  config: Config,
  bmcs: BmcFactory,
  refusal: BmcRefusal | null = null,
): (FenceLevels & { warmAll(): Promise<void>; closeAll(): Promise<void> }) | null {
  if (refusal === null && config.cluster.members.every((m) => m.fenceLevels.length === 0)) return null;
  const extra = new Map<string, FenceLevel[]>();
  const redfish: RedfishBmc[] = [];
  for (const member of config.cluster.members) {
    extra.set(
      member.name,
      member.fenceLevels.map((level) => {
        const bmc = levelBmc(member, level, config.file);
        if (bmc instanceof RedfishBmc) redfish.push(bmc);
        return { device: levelDevice(level), bmc, timeoutMs: level.timeoutMs };
      }),
    );
  }
  return {
    levels(name: string): FenceLevel[] {
      const member = config.cluster.members.find((m) => m.name === name);
      const first: FenceLevel[] =
        member?.bmc == null
          ? []
          : [
              {
                device: `BMC ${member.bmc.host}`,
                bmc: bmcs.open(name),
                timeoutMs: null,
                ...(refusal === null ? {} : { refusal: () => refusal(name) }),
              },
            ];
      return [...first, ...(extra.get(name) ?? [])];
    },
    /** Opens the Redfish levels' sessions ahead of need; a failure is left to the fence. */
    async warmAll(): Promise<void> {
      await Promise.all(redfish.map((bmc) => bmc.warm().catch(() => undefined)));
    },
    async closeAll(): Promise<void> {
      await Promise.all(redfish.map((bmc) => bmc.close().catch(() => undefined)));
    },
  };
}

/** A level's device for logs: client or agent, address, plug; no secret. */
function levelDevice(level: FenceLevelConfig): string {
  const what = level.client === 'fence-agent' ? (level.fenceAgent?.name ?? 'fence agent') : level.client;
  const d = level.device;
  return `${what} ${d.host}${d.port === null ? '' : `:${d.port}`}${d.plug === null ? '' : ` plug ${d.plug}`}`;
}

function levelBmc(member: Member, level: FenceLevelConfig, file: string): Bmc {
  const d = level.device;
  if (level.client === 'ipmitool')
    return new IpmitoolBmc({
      member: member.name,
      host: d.host,
      port: d.port ?? IPMI_PORT,
      username: d.username,
      passwordFile: d.passwordFile,
      interface: 'lanplus',
      cipherSuite: 3,
      timeoutMs: level.timeoutMs,
      retries: 0,
    });
  if (level.client === 'redfish')
    return new RedfishBmc({
      member: member.name,
      host: d.host,
      port: d.port ?? REDFISH_PORT,
      username: d.username,
      passwordFile: d.passwordFile,
      tls: tlsCheck(level.redfish, file),
      system: level.redfish?.system ?? null,
      timeoutMs: level.timeoutMs,
      powerCycleSupported: level.redfish?.powerCycleSupported ?? true,
    });
  return new FenceAgentBmc({
    member: member.name,
    agent: level.fenceAgent?.name ?? '',
    host: d.host,
    port: d.port,
    username: d.username,
    passwordFile: d.passwordFile,
    plug: d.plug,
    options: level.fenceAgent?.options ?? {},
    timeoutMs: level.timeoutMs,
  });
}

function tlsCheck(redfish: RedfishBoard | null, file: string): TlsCheck {
  if (redfish?.caFile != null) {
    try {
      return { kind: 'ca', ca: readFileSync(redfish.caFile, 'utf8') };
    } catch (error) {
      throw new Error(
        `${file}: fence_levels redfish.ca_file: cannot read ${redfish.caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error },
      );
    }
  }
  if (redfish?.fingerprint != null) return { kind: 'fingerprint', sha256: redfish.fingerprint };
  return { kind: 'insecure' };
}
