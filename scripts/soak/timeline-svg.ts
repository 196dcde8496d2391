/**
 * The campaign's picture: one timeline of the whole run. Per server, what it held (primary,
 * monitor) and when it was off; one lane per fault kind (bars coloured by the server hit,
 * grey for the whole cluster); the observer's outages; intervals with two connected holders;
 * takeovers that broke the gate. Hand-written SVG (scripts/bench/svg-kit.ts). Pure.
 */
import { esc, line, linearTicks, rect, text } from '../bench/svg-kit.js';
import type { Checks } from './checks.js';
import type { CampaignRecord } from './records.js';
import { SOAK_FAULT_KINDS } from './schedule.js';

const WIDTH = 1400;
const LEFT = 130;
const RIGHT = 20;
const PLOT = WIDTH - LEFT - RIGHT;
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';
const SERVER_COLORS: Record<string, string> = { a: '#1f77b4', b: '#d62728', c: '#2ca02c' };

export function timelineSvg(record: CampaignRecord, checks: Checks): string {
  const spanUs = Math.max(1, record.endUs - record.startUs);
  const x = (atUs: number): number =>
    LEFT + ((Math.min(Math.max(atUs, record.startUs), record.endUs) - record.startUs) / spanUs) * PLOT;
  const w = (fromUs: number, toUs: number): number => Math.max(0.6, x(toUs) - x(fromUs));
  const parts: string[] = [];
  let y = 10;
  parts.push(
    text(
      10,
      y + 14,
      `Fault campaign, gate ${record.gate}, seed ${record.seed}: ${checks.faults.done} faults, ${checks.takeovers.checks.length} takeovers, ${checks.splitBrain.intervals.length} split-brain intervals, availability ${checks.availability.percent.toFixed(2)} %`,
      `${FONT} font-size="14" font-weight="bold"`,
    ),
  );
  y += 30;
  // Servers: primary (dark), monitor (light), power off (grey hatch).
  const rowH = 18;
  for (const server of record.servers) {
    parts.push(text(10, y + 13, `server ${server}`, `${FONT} font-size="12"`));
    parts.push(rect(LEFT, y, PLOT, rowH, 'fill="#f7f7f7" stroke="#ddd"'));
    const color = SERVER_COLORS[server] ?? '#555';
    record.holders.forEach((sample, i) => {
      const endUs = record.holders[i + 1]?.atUs ?? record.endUs;
      if (endUs < record.startUs) return;
      if (!sample.powered.includes(server))
        parts.push(rect(x(sample.atUs), y + 6, w(sample.atUs, endUs), 6, 'fill="#999"'));
      else if (sample.primaryUp.includes(server))
        parts.push(rect(x(sample.atUs), y, w(sample.atUs, endUs), rowH, `fill="${color}"`));
      else if (sample.monitorUp.includes(server))
        parts.push(rect(x(sample.atUs), y + 4, w(sample.atUs, endUs), rowH - 8, `fill="${color}" fill-opacity="0.35"`));
    });
    for (const t of checks.takeovers.checks.filter((c) => c.server === server))
      parts.push(
        line(
          x(t.atUs),
          y - 2,
          x(t.atUs),
          y + rowH + 2,
          `stroke="${t.ok ? '#000' : '#ff00ff'}" stroke-width="${t.ok ? 0.6 : 2}"`,
        ),
      );
    y += rowH + 4;
  }
  parts.push(
    text(
      LEFT,
      y + 11,
      'full bar: holds the primary address (link usable); thin: monitor address; grey: powered off; ticks: takeovers (magenta: broke the gate)',
      `${FONT} font-size="10" fill="#444"`,
    ),
  );
  y += 20;
  // Observer outages and split brain.
  parts.push(text(10, y + 10, 'outages', `${FONT} font-size="11"`));
  parts.push(rect(LEFT, y, PLOT, 12, 'fill="#f7f7f7" stroke="#ddd"'));
  for (const o of checks.availability.outages)
    parts.push(rect(x(o.fromUs), y, w(o.fromUs, o.toUs), 12, 'fill="#e31a1c"'));
  y += 16;
  parts.push(text(10, y + 10, 'two holders', `${FONT} font-size="11"`));
  parts.push(rect(LEFT, y, PLOT, 12, 'fill="#f7f7f7" stroke="#ddd"'));
  for (const v of checks.splitBrain.intervals)
    parts.push(rect(x(v.startUs), y, w(v.startUs, v.endUs ?? record.endUs), 12, 'fill="#ff00ff"'));
  y += 22;
  // One lane per fault kind.
  const laneH = 11;
  for (const kind of SOAK_FAULT_KINDS) {
    parts.push(text(10, y + 9, kind, `${FONT} font-size="10"`));
    parts.push(rect(LEFT, y, PLOT, laneH, 'fill="#fbfbfb" stroke="#eee"'));
    for (const f of record.faults.filter((r) => r.kind === kind && r.status !== 'skipped')) {
      const fill = f.target === null ? '#666' : (SERVER_COLORS[f.target] ?? '#666');
      const endUs = Math.max(f.endUs, f.appliedUs);
      parts.push(
        rect(
          x(f.appliedUs || f.startUs),
          y + 1,
          w(f.appliedUs || f.startUs, endUs),
          laneH - 2,
          `fill="${fill}"${f.status === 'failed' ? ' fill-opacity="0.3"' : ''}`,
        ),
      );
    }
    y += laneH + 2;
  }
  // Time axis, minutes.
  const minutes = spanUs / 60e6;
  for (const tick of linearTicks(0, minutes, 12)) {
    const tx = LEFT + (tick / minutes) * PLOT;
    parts.push(line(tx, 40, tx, y, 'stroke="#000" stroke-opacity="0.08"'));
    parts.push(text(tx, y + 14, `${tick} min`, `${FONT} font-size="10" text-anchor="middle" fill="#444"`));
  }
  y += 22;
  parts.push(
    text(
      LEFT,
      y + 8,
      `fault bars coloured by the server hit (${Object.entries(SERVER_COLORS)
        .map(([s]) => s)
        .join(', ')} as above; grey: the whole cluster; faded: failed)`,
      `${FONT} font-size="10" fill="#444"`,
    ),
  );
  y += 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}"><title>${esc(`soak ${record.gate} ${record.seed}`)}</title><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}
