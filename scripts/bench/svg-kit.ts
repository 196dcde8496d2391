/** Small helpers for hand-written SVG. Pure. */

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function num(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0';
}

export function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${num(x)}" y="${num(y)}" ${attrs}>${esc(content)}</text>`;
}

export function line(x1: number, y1: number, x2: number, y2: number, attrs = ''): string {
  return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" ${attrs}/>`;
}

export function rect(x: number, y: number, w: number, h: number, attrs = ''): string {
  return `<rect x="${num(x)}" y="${num(y)}" width="${num(Math.max(0, w))}" height="${num(Math.max(0, h))}" ${attrs}/>`;
}

export function circle(cx: number, cy: number, r: number, attrs = ''): string {
  return `<circle cx="${num(cx)}" cy="${num(cy)}" r="${num(r)}" ${attrs}/>`;
}

/** "Nice" tick values covering [min, max] on a linear axis. */
export function linearTicks(min: number, max: number, count = 8): number[] {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + 1e-9; value += step)
    ticks.push(Math.round(value * 1e6) / 1e6);
  return ticks;
}

/** Decade ticks (1, 10, 100, ...) covering [min, max] on a log axis. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let exponent = Math.floor(Math.log10(min)); exponent <= Math.ceil(Math.log10(max)); exponent += 1)
    ticks.push(10 ** exponent);
  return ticks;
}

export function formatMs(value: number): string {
  if (value >= 1000) return `${Math.round(value / 100) / 10} s`;
  if (value >= 10) return `${Math.round(value)} ms`;
  return `${Math.round(value * 10) / 10} ms`;
}
