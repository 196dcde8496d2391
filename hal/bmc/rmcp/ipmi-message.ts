/**
 * IPMI LAN messages carried as RMCP+ payload type 0 (IPMI v2.0 §13.8, Table 13-8), the commands
 * this driver sends, and completion codes. Pure.
 *
 *   request:  rsAddr 20 | netFn<<2 | checksum | rqAddr 81 | rqSeq<<2 | cmd | data | checksum
 *   response: rqAddr 81 | (netFn|1)<<2 | checksum | rsAddr 20 | rqSeq<<2 | cmd | completion | data | checksum
 */
import { RmcpCodecError, need } from './codec-error.js';

export const BMC_ADDRESS = 0x20;
/** Software id of a remote console (§5.5). */
export const CONSOLE_ADDRESS = 0x81;

export const NetFn = { chassis: 0x00, app: 0x06 } as const;

export const Command = {
  getChassisStatus: { netFn: NetFn.chassis, cmd: 0x01 },
  chassisControl: { netFn: NetFn.chassis, cmd: 0x02 },
  getDeviceId: { netFn: NetFn.app, cmd: 0x01 },
  getSystemGuid: { netFn: NetFn.app, cmd: 0x37 },
  setSessionPrivilege: { netFn: NetFn.app, cmd: 0x3b },
  closeSession: { netFn: NetFn.app, cmd: 0x3c },
} as const;

/** Chassis Control data byte (§28.3). */
export const ChassisControl = { off: 0x00, on: 0x01, cycle: 0x02, hardReset: 0x03 } as const;

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** 0..63 */
  rqSeq: number;
  data: Buffer;
}

export interface IpmiResponse {
  netFn: number;
  cmd: number;
  rqSeq: number;
  completionCode: number;
  data: Buffer;
}

/** Two's complement checksum: the bytes plus it sum to 0 mod 256. */
export function checksum(bytes: Buffer): number {
  let sum = 0;
  for (const byte of bytes) {
    sum = (sum + byte) & 0xff;
  }
  return (0x100 - sum) & 0xff;
}

export function encodeIpmiRequest(request: IpmiRequest): Buffer {
  const head = Buffer.from([BMC_ADDRESS, (request.netFn & 0x3f) << 2]);
  const body = Buffer.concat([
    Buffer.from([CONSOLE_ADDRESS, (request.rqSeq & 0x3f) << 2, request.cmd & 0xff]),
    request.data,
  ]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

/** Parses a response; checksums, addresses and the response bit of netFn are checked. */
export function decodeIpmiResponse(message: Buffer): IpmiResponse {
  need(message, 8, 'IPMI response');
  if (checksum(message.subarray(0, 2)) !== message[2]) {
    throw new RmcpCodecError('IPMI response', 'header checksum does not match');
  }
  if (checksum(message.subarray(3, message.length - 1)) !== message[message.length - 1]) {
    throw new RmcpCodecError('IPMI response', 'data checksum does not match');
  }
  const netFnByte = message[1] ?? 0;
  if (message[0] !== CONSOLE_ADDRESS || message[3] !== BMC_ADDRESS) {
    throw new RmcpCodecError(
      'IPMI response',
      `addressed 0x${hex(message[0])} from 0x${hex(message[3])}, not a BMC's answer to us`,
    );
  }
  if (((netFnByte >> 2) & 1) !== 1) {
    throw new RmcpCodecError('IPMI response', `netFn 0x${hex(netFnByte >> 2)} is a request, not a response`);
  }
  return {
    netFn: (netFnByte >> 2) & 0x3e,
    cmd: message[5] ?? 0,
    rqSeq: ((message[4] ?? 0) >> 2) & 0x3f,
    completionCode: message[6] ?? 0,
    data: message.subarray(7, message.length - 1),
  };
}

/** The response encoded as a BMC would (for tests and fakes). */
export function encodeIpmiResponse(response: IpmiResponse): Buffer {
  const head = Buffer.from([CONSOLE_ADDRESS, ((response.netFn | 1) & 0x3f) << 2]);
  const body = Buffer.concat([
    Buffer.from([BMC_ADDRESS, (response.rqSeq & 0x3f) << 2, response.cmd, response.completionCode]),
    response.data,
  ]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

/** Parses a request as a BMC would (for tests and fakes). */
export function decodeIpmiRequest(message: Buffer): IpmiRequest {
  need(message, 7, 'IPMI request');
  if (
    checksum(message.subarray(0, 2)) !== message[2] ||
    checksum(message.subarray(3, message.length - 1)) !== message[message.length - 1]
  ) {
    throw new RmcpCodecError('IPMI request', 'checksum does not match');
  }
  return {
    netFn: ((message[1] ?? 0) >> 2) & 0x3f,
    cmd: message[5] ?? 0,
    rqSeq: ((message[4] ?? 0) >> 2) & 0x3f,
    data: message.subarray(6, message.length - 1),
  };
}

const COMPLETION_TEXT: ReadonlyMap<number, string> = new Map([
  [0xc0, 'node busy'],
  [0xc1, 'invalid command'],
  [0xc2, 'invalid command for the LUN'],
  [0xc3, 'timeout while processing the command'],
  [0xc4, 'out of space'],
  [0xc5, 'reservation canceled or invalid'],
  [0xc6, 'request data truncated'],
  [0xc7, 'request data length invalid'],
  [0xc8, 'request data field length limit exceeded'],
  [0xc9, 'parameter out of range'],
  [0xca, 'cannot return the number of requested data bytes'],
  [0xcb, 'requested sensor, data or record not present'],
  [0xcc, 'invalid data field in request'],
  [0xcd, 'command illegal for this sensor or record type'],
  [0xce, 'command response could not be provided'],
  [0xcf, 'cannot execute a duplicated request'],
  [0xd0, 'SDR repository in update mode'],
  [0xd1, 'device in firmware update mode'],
  [0xd2, 'BMC initialization in progress'],
  [0xd3, 'destination unavailable'],
  [0xd4, 'insufficient privilege level'],
  [0xd5, 'command not supported in the present state'],
  [0xd6, 'command sub-function disabled or unavailable'],
  [0xff, 'unspecified error'],
]);

export function completionText(code: number): string {
  return `${COMPLETION_TEXT.get(code) ?? 'unknown completion code'} (0x${hex(code)})`;
}

/** Power state from a Get Chassis Status response: bit 0 of the first data byte. */
export function powerFromChassisStatus(data: Buffer): 'on' | 'off' {
  need(data, 3, 'Get Chassis Status data');
  return ((data[0] ?? 0) & 0x01) === 1 ? 'on' : 'off';
}

function hex(value: number | undefined): string {
  return (value ?? 0).toString(16).padStart(2, '0');
}
