/** A bounded window of recent samples (RTTs, jitter) with order statistics on demand. */
export class Samples {
  private readonly values: number[] = [];
  private next = 0;
  private total = 0;

  constructor(private readonly capacity = 4096) {}

  add(value: number): void {
    if (this.values.length < this.capacity) this.values.push(value);
    else this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    this.total += 1;
  }

  summary(): SampleSummary {
    if (this.values.length === 0)
      return { count: this.total, window: 0, min: null, median: null, p99: null, max: null };
    const sorted = [...this.values].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return {
      count: this.total,
      window: sorted.length,
      min: sorted[0] ?? 0,
      median: at(0.5),
      p99: at(0.99),
      max: sorted[sorted.length - 1] ?? 0,
    };
  }
}

export interface SampleSummary {
  /** Samples ever added. */
  count: number;
  /** Samples the statistics are computed over (the most recent ones). */
  window: number;
  min: number | null;
  median: number | null;
  p99: number | null;
  max: number | null;
}
