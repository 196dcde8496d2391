import { HotspareError } from './hotspare-error.js';

/** The persisted role record cannot be read or written; names the file. */
export class StoreError extends HotspareError {
  override name = 'StoreError';

  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super(`state file ${file}: ${detail}`, { file }, options);
  }
}

export function isStoreError(error: unknown): error is StoreError {
  return error instanceof StoreError;
}
