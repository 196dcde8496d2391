/** Microseconds as milliseconds with one decimal, for log messages ("12.3"). */
export function msText(us: number): string {
  return (us / 1000).toFixed(1);
}
