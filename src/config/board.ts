import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from '../../hal/errors/index.js';
import { Fields } from './fields.js';
import { SUPPORTED_CIPHER_SUITES } from '../../hal/bmc/index.js';
import type { Board } from './types.js';

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
      client: bmc.oneOf('client', ['rmcp', 'ipmitool'] as const, 'ipmitool'),
      interface: bmc.oneOf('interface', ['lanplus', 'lan'] as const, 'lanplus'),
      cipherSuite: bmc.number('cipher_suite', 3, { min: 0, max: 17, integer: true }),
      powerCycle: bmc.oneOf('power_cycle', ['cycle', 'off-on'] as const, 'off-on'),
      timeoutMs: bmc.number('timeout_ms', 5000, { min: 100, max: 120_000, integer: true }),
      retries: bmc.number('retries', 0, { min: 0, max: 10, integer: true }),
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
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(board.nic))
    f.fail('nic', `is not a valid interface name: ${JSON.stringify(board.nic)}`);
  f.has('quirks'); // free-form notes for people
  serial.rejectUnknown();
  bmc.rejectUnknown();
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
