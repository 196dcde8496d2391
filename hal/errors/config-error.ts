import { HotspareError } from './hotspare-error.js';

/** A config or board file is unreadable or invalid; names the file and the field. */
export class ConfigError extends HotspareError {
  override name = 'ConfigError';
  readonly file: string;
  readonly field: string;

  constructor(file: string, field: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${field === '' ? '' : `${field}: `}${problem}`, { file, field }, options);
    this.file = file;
    this.field = field;
  }
}

export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}
