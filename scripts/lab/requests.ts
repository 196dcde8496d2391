/**
 * One-line requests to a running lab: from the chassis program of ipmi_sim (`chassis NODE
 * power 0|1`, answered with '' on success) and from the CLI (`status`, `fail NODE KIND`,
 * `restore NODE [KIND]`, `power NODE on|off`, answered with one JSON line).
 */
import { FAULT_KINDS } from './fault-kinds.js';
import type { FaultKind } from './fault-kinds.js';
import type { SlowBmcPower } from './slow-bmc.js';

/**
 * What a request may ask of the running lab (lab.ts's `Lab` has it; a power request answers
 * with its timing as JSON): named here so that this module does not import the lab it
 * serves, which imports it.
 */
export interface LabRequests {
  readonly servers: ReadonlyMap<string, unknown>;
  readonly bmcPower: Pick<SlowBmcPower, 'acknowledge' | 'off' | 'on'>;
  status(): Promise<object>;
  fail(name: string, kind: FaultKind): Promise<void>;
  restore(name: string, kind?: FaultKind): Promise<void>;
  powerOn(name: string, source?: 'bmc' | 'harness'): Promise<object | null>;
  powerOff(name: string, source?: 'bmc' | 'harness'): Promise<object | null>;
}

export async function handleLabRequest(lab: LabRequests, line: string): Promise<string> {
  const [verb, name, ...rest] = line.split(/\s+/).filter((word) => word !== '');
  if (verb === 'chassis' && name !== undefined) {
    return handleChassis(lab, name, rest);
  }
  try {
    switch (verb) {
      case 'status':
        return JSON.stringify({ ok: true, ...(await lab.status()) });
      case 'fail': {
        const kind = rest[0] as FaultKind | undefined;
        if (name === undefined || kind === undefined || !FAULT_KINDS.includes(kind)) {
          throw new Error(`usage: fail NODE ${FAULT_KINDS.join('|')}`);
        }
        await lab.fail(name, kind);
        return JSON.stringify({ ok: true });
      }
      case 'restore': {
        const kind = rest[0] as FaultKind | undefined;
        if (name === undefined || (kind !== undefined && !FAULT_KINDS.includes(kind))) {
          throw new Error(`usage: restore NODE [${FAULT_KINDS.join('|')}]`);
        }
        await lab.restore(name, kind);
        return JSON.stringify({ ok: true });
      }
      case 'power': {
        if (name === undefined || (rest[0] !== 'on' && rest[0] !== 'off')) {
          throw new Error('usage: power NODE on|off');
        }
        const timing = rest[0] === 'on' ? await lab.powerOn(name) : await lab.powerOff(name);
        return JSON.stringify({ ok: true, timing });
      }
      default:
        throw new Error(`unknown request ${JSON.stringify(verb ?? '')}`);
    }
  } catch (error) {
    return JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
}

/** `chassis NODE PARM VALUE [PARM VALUE ...]`: '' on success, the chassis program's convention. */
async function handleChassis(lab: LabRequests, name: string, pairs: readonly string[]): Promise<string> {
  if (!lab.servers.has(name)) {
    return `error: no server ${name}`;
  }
  await lab.bmcPower.acknowledge();
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const parm = pairs[i];
    const value = (pairs[i + 1] ?? '').replace(/"/g, '');
    if (parm === 'power') {
      // Through the BMC's power side: a delayed off is acknowledged now and carried out later.
      if (value === '0') {
        await lab.bmcPower.off(name);
      } else if (value === '1') {
        await lab.bmcPower.on(name);
      } else {
        return `error: bad power value ${value}`;
      }
    } else if (parm === 'reset') {
      if (value === '1') {
        await lab.powerOff(name, 'bmc');
        await lab.powerOn(name, 'bmc');
      }
    } else if (parm !== 'boot') {
      return `error: unsupported parameter ${String(parm)}`;
    }
  }
  return '';
}
