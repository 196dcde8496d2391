import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from '../../hal/errors/index.js';
import { Fields } from './fields.js';
import { SUPPORTED_CIPHER_SUITES } from '../../hal/bmc/index.js';
import { RESERVED_FENCE_AGENT_KEYS } from '../../hal/bmc/fence-agent.js';
import type { Board, RedfishBoard } from './types.js';

/** Reads and validates a board file. Every field, its type and default: README "Boards". */
export function loadBoard(file: string): Board {
  return parseBoard(file, readYaml(file));
}

export function parseBoard(file: string, doc: unknown): Board {
  const f = Fields.root(file, doc);
  const serial = f.object('serial');
  const bmc = f.object('bmc');
  const board: Board = {
    file,
    name: f.string('name'),
    description: f.string('description', ''),
    nic: f.string('nic'),
    serial: {
      device: serial.optionalString('device'),
      baud: serial.number('baud', 115200, { min: 1200, max: 4_000_000, integer: true }),
    },
    bmc: {
      client: bmc.oneOf('client', ['rmcp', 'ipmitool', 'fence-agent', 'redfish'] as const, 'ipmitool'),
      interface: bmc.oneOf('interface', ['lanplus', 'lan'] as const, 'lanplus'),
      cipherSuite: bmc.number('cipher_suite', 3, { min: 0, max: 17, integer: true }),
      powerCycle: bmc.oneOf('power_cycle', ['cycle', 'off-on'] as const, 'off-on'),
      timeoutMs: bmc.number('timeout_ms', 5000, { min: 100, max: 120_000, integer: true }),
      retries: bmc.number('retries', 0, { min: 0, max: 10, integer: true }),
      fenceAgent: null,
      redfish: null,
      powerOffMs: bmc.has('power_off_ms')
        ? bmc.number('power_off_ms', undefined, { min: 0, max: 600_000, integer: true })
        : null,
    },
    reboot: f.oneOf('reboot', ['restart', 'exit', 'system'] as const, 'restart'),
  };
  if (board.bmc.client === 'rmcp' && board.bmc.interface !== 'lanplus')
    bmc.fail(
      'client',
      'rmcp speaks IPMI v2.0 RMCP+ only: use interface lanplus, or client ipmitool for IPMI 1.5 (lan)',
    );
  if (board.bmc.client === 'rmcp' && !SUPPORTED_CIPHER_SUITES.includes(board.bmc.cipherSuite))
    bmc.fail(
      'cipher_suite',
      `${board.bmc.cipherSuite} is not supported by client rmcp (supported: ${SUPPORTED_CIPHER_SUITES.join(', ')}); use client ipmitool`,
    );
  board.bmc.fenceAgent = fenceAgent(bmc, board.bmc.client === 'fence-agent');
  board.bmc.redfish = redfish(bmc, board.bmc.client === 'redfish');
  if (board.bmc.redfish?.powerCycleSupported === false && board.bmc.powerCycle === 'cycle')
    bmc.fail(
      'power_cycle',
      'is cycle, but bmc.redfish.power_cycle_supported is false (this BMC takes no PowerCycle reset): use off-on',
    );
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(board.nic))
    f.fail('nic', `is not a valid interface name: ${JSON.stringify(board.nic)}`);
  f.has('quirks'); // free-form notes for people
  serial.rejectUnknown();
  bmc.rejectUnknown();
  f.rejectUnknown();
  return board;
}

/** `bmc.fence_agent`: required with `client: fence-agent`, refused with any other client. */
export function fenceAgent(bmc: Fields, used: boolean): Board['bmc']['fenceAgent'] {
  if (!bmc.has('fence_agent')) {
    if (used) bmc.fail('fence_agent', 'is required with client fence-agent (name: fence_ipmilan, ...)');
    return null;
  }
  if (!used) bmc.fail('fence_agent', 'is only read with client fence-agent');
  const f = bmc.object('fence_agent');
  const name = f.string('name');
  if (!/^fence_[A-Za-z0-9_]{1,64}$/.test(name) && !/^\/[A-Za-z0-9_./-]+$/.test(name))
    f.fail('name', `must be an agent's name (fence_ipmilan) or an absolute path, got ${JSON.stringify(name)}`);
  const options = f.scalarMap('options');
  const optionsF = f.object('options');
  for (const [key, value] of Object.entries(options)) {
    if (!/^[a-z][a-z0-9_-]{0,63}$/.test(key))
      optionsF.fail(key, 'is not an option name (lower case letters, digits, _ and -)');
    if (RESERVED_FENCE_AGENT_KEYS.includes(key.replace(/-/g, '_')))
      optionsF.fail(
        key,
        "is set from the member's bmc (host, port, username, password_file, plug) and the operation; it cannot be set here",
      );
    if (/[\r\n\0]/.test(value)) optionsF.fail(key, 'must be one line');
  }
  f.rejectUnknown();
  return { name, options };
}

/** `bmc.redfish`: optional with `client: redfish` (then the certificate must be checkable), refused with any other client. */
export function redfish(bmc: Fields, used: boolean): RedfishBoard | null {
  if (!used) {
    if (bmc.has('redfish')) bmc.fail('redfish', 'is only read with client redfish');
    return null;
  }
  const f = bmc.object('redfish');
  const board: RedfishBoard = {
    system: f.optionalString('system'),
    powerCycleSupported: f.boolean('power_cycle_supported', true),
    caFile: f.optionalString('ca_file'),
    fingerprint: f.optionalString('fingerprint'),
    insecure: f.boolean('insecure', false),
  };
  if (board.system !== null && !/^\/redfish\/v1\/[A-Za-z0-9_.~%/-]+$/.test(board.system))
    f.fail('system', `must be a path such as /redfish/v1/Systems/1, got ${JSON.stringify(board.system)}`);
  if (board.fingerprint !== null) {
    const hex = board.fingerprint.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex))
      f.fail('fingerprint', 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed');
    board.fingerprint = hex;
  }
  if (board.caFile !== null && !board.caFile.startsWith('/')) f.fail('ca_file', 'must be an absolute path');
  const ways = [board.caFile !== null, board.fingerprint !== null, board.insecure].filter(Boolean).length;
  if (ways === 0)
    f.fail(
      'ca_file',
      "is required (or fingerprint, or insecure: true): the BMC's certificate must be checked, or not checking it written down",
    );
  if (ways > 1) f.fail('insecure', 'choose one of ca_file, fingerprint and insecure: true');
  f.rejectUnknown();
  return board;
}

export function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, '', `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(
      file,
      '',
      `not valid YAML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      { cause: error },
    );
  }
}
