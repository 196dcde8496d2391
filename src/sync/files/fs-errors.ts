/** Reading Node's file-system errors, pure. */

/** The errno code of a Node error (`ENOENT`, ...), or undefined. */
export function code(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const value: unknown = Reflect.get(error, 'code');
  return typeof value === 'string' ? value : undefined;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
