/**
 * The control socket speaks newline-delimited JSON: one request object a line, one
 * response object a line. Unknown commands and malformed lines get `{ ok: false, error }`.
 */
export interface ControlRequest {
  command: string;
  args?: string[];
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export const MAX_LINE = 64 * 1024;

export function parseRequest(line: string): ControlRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'request is not valid JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'request must be a JSON object';
  const command = (value as Record<string, unknown>)['command'];
  if (typeof command !== 'string' || command === '') return 'request needs a "command" string';
  const args = (value as Record<string, unknown>)['args'];
  if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== 'string')))
    return '"args" must be a list of strings';
  return args === undefined ? { command } : { command, args: args as string[] };
}
