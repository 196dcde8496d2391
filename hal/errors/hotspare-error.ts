/** Base of every error hotspare raises on purpose. `context` never holds secrets. */
export class HotspareError extends Error {
  override name = 'HotspareError';
  readonly context: Readonly<Record<string, string | number | boolean>>;

  constructor(message: string, context: Record<string, string | number | boolean> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.context = context;
  }
}

export function isHotspareError(error: unknown): error is HotspareError {
  return error instanceof HotspareError;
}
