/** Order statistics for the benchmark. Pure. */

export interface Distribution {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank quantile of sorted values (q in [0, 1]). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** min / median / p95 / max of the values that are numbers; null when there are none. */
export function distribution(values: ReadonlyArray<number | null | undefined>, digits = 2): Distribution | null {
  const sorted = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return {
    n: sorted.length,
    min: round(sorted[0] ?? NaN, digits),
    median: round(median(sorted), digits),
    p95: round(quantile(sorted, 0.95), digits),
    max: round(sorted[sorted.length - 1] ?? NaN, digits),
  };
}

export function ratio(a: number | null | undefined, b: number | null | undefined, digits = 3): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return null;
  return round(a / b, digits);
}
