/**
 * The control socket speaks newline-delimited JSON: one request object a line, one
 * response object a line. Malformed lines get `{ ok: false, error }`.
 *
 * A request names a command the way the maintenance shell reads it: the whole line in
 * `command` (`{"command": "bmc b status"}`), or its first word there and the rest as
 * `args` (`{"command": "bmc", "args": ["b", "status"]}`). Commands that change the cluster
 * also need `"confirm": "yes"` and, when shell.password_file is set, `"password"`.
 */
export interface ControlRequest {
  command: string;
  args?: string[];
  /** "yes" confirms a command that changes the cluster (the shell's confirmation question). */
  confirm?: string;
  /** The shell password (shell.password_file). Never echoed or logged. */
  password?: string;
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
  const fields = value as Record<string, unknown>;
  const command = fields['command'];
  if (typeof command !== 'string' || command === '') return 'request needs a "command" string';
  const args = fields['args'];
  if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== 'string')))
    return '"args" must be a list of strings';
  const request: ControlRequest = { command };
  if (args !== undefined) request.args = args as string[];
  // Rule: say which field is wrong, never what it holds (it may be a password).
  for (const key of ['confirm', 'password'] as const) {
    const field = fields[key];
    if (field === undefined) continue;
    if (typeof field !== 'string') return `"${key}" must be a string`;
    request[key] = field;
  }
  return request;
}
