/**
 * The benchmark's picture, hand-written SVG: for one representative run of ours and of
 * keepalived's fastest setting, a timeline of the observer's replies (one tick per reply,
 * coloured by the server that answered) with the events marked; below, the outage of every
 * run of every configuration on a log axis, side by side.
 */
import type { FailoverConfigResult, Representative } from './failover.js';
import { circle, esc, formatMs, line, linearTicks, logTicks, rect, text } from './svg-kit.js';

const WIDTH = 1100;
const LEFT = 215;
const RIGHT = 40;
const PLOT = WIDTH - LEFT - RIGHT;
const SERVER_COLORS: Record<string, string> = { a: '#1f77b4', b: '#d62728', c: '#2ca02c' };
const CONFIG_COLORS = ['#1f77b4', '#17becf', '#ff7f0e', '#9467bd', '#8c564b'];
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';

/** Phases of a takeover, each between two marked events (ours has all; keepalived the outer ones). */
const PHASES = [
  { from: 'last reply', to: 'detected', label: 'detection', color: '#6a3d9a' },
  { from: 'fence start', to: 'fenced', label: 'fence (BMC)', color: '#e6550d' },
  { from: 'fenced', to: 'silence confirmed', label: 'confirm', color: '#fd8d3c' },
  { from: 'silence confirmed', to: 'address taken', label: 'takeover', color: '#31a354' },
  { from: 'address taken', to: 'first reply', label: 'announce', color: '#3182bd' },
  { from: 'last reply', to: 'address taken', label: 'detection and election', color: '#6a3d9a', only: 'keepalived' },
] as const;

function timeline(title: string, rep: Representative, top: number): { svg: string; height: number } {
  const height = 262;
  const plotTop = top + 34;
  const rowY = plotTop + 150;
  const times = [...rep.replies.map((r) => r.tMs), ...rep.events.map((e) => e.tMs)];
  const min = Math.min(...times);
  const max = Math.max(...times);
  const pad = (max - min) * 0.02;
  const lo = min - pad;
  const hi = max + pad;
  const x = (t: number): number => LEFT + ((t - lo) / (hi - lo)) * PLOT;
  const parts: string[] = [];
  parts.push(text(20, top + 18, title, `${FONT} font-size="15" font-weight="bold"`));
  parts.push(rect(LEFT, plotTop, PLOT, 170, 'fill="#fafafa" stroke="#ccc"'));
  // The outage: last reply before the crash to the first reply after it.
  const last = rep.events.find((e) => e.name === 'last reply');
  const first = rep.events.find((e) => e.name === 'first reply');
  if (last !== undefined && first !== undefined) {
    parts.push(rect(x(last.tMs), plotTop, x(first.tMs) - x(last.tMs), 170, 'fill="#fde0dc" stroke="none"'));
    parts.push(
      text(
        (x(last.tMs) + x(first.tMs)) / 2,
        plotTop + 165,
        `outage ${formatMs(rep.outageMs)}`,
        `${FONT} font-size="11" text-anchor="middle" fill="#b22222"`,
      ),
    );
  }
  for (const tick of linearTicks(lo, hi, 10)) {
    parts.push(line(x(tick), plotTop + 170, x(tick), plotTop + 175, 'stroke="#666"'));
    parts.push(text(x(tick), plotTop + 188, `${tick}`, `${FONT} font-size="10" text-anchor="middle" fill="#444"`));
  }
  parts.push(
    text(
      LEFT + PLOT,
      plotTop + 202,
      'ms since the crash (power loss of the holder)',
      `${FONT} font-size="10" text-anchor="end" fill="#444"`,
    ),
  );
  parts.push(text(LEFT - 8, rowY + 4, 'observer replies', `${FONT} font-size="11" text-anchor="end"`));
  for (const reply of rep.replies) {
    const color = SERVER_COLORS[reply.server ?? ''] ?? '#777';
    parts.push(line(x(reply.tMs), rowY - 9, x(reply.tMs), rowY + 9, `stroke="${color}" stroke-width="1"`));
  }
  // Event markers, labels staggered over four rows so that close events stay readable.
  rep.events.forEach((event, i) => {
    const ex = x(event.tMs);
    const labelY = plotTop + 14 + (i % 5) * 22;
    parts.push(line(ex, labelY + 3, ex, rowY + 12, 'stroke="#333" stroke-dasharray="3,2" stroke-width="1"'));
    const anchor = ex > LEFT + PLOT * 0.8 ? 'end' : 'start';
    parts.push(
      text(
        ex + (anchor === 'start' ? 3 : -3),
        labelY,
        `${event.name} ${event.tMs >= 0 ? '+' : ''}${formatMs(event.tMs)}`,
        `${FONT} font-size="10.5" text-anchor="${anchor}"`,
      ),
    );
  });
  // Where the time goes: one band per phase, between the events that bound it.
  const at = (name: string): number | undefined => rep.events.find((e) => e.name === name)?.tMs;
  const ours = rep.events.some((e) => e.name === 'detected');
  PHASES.forEach((phase) => {
    if ('only' in phase && ours) return;
    const from = at(phase.from);
    const to = at(phase.to);
    if (from === undefined || to === undefined || to < from) return;
    const bandY = rowY - 40;
    parts.push(rect(x(from), bandY, x(to) - x(from), 14, `fill="${phase.color}" opacity="0.85"`));
    if (x(to) - x(from) > 34)
      parts.push(
        text(
          (x(from) + x(to)) / 2,
          bandY + 10.5,
          phase.label,
          `${FONT} font-size="9.5" text-anchor="middle" fill="white"`,
        ),
      );
  });
  const legend = [rep.oldHolder, rep.newHolder].map((server, i) => {
    const lx = LEFT + i * 190;
    return `${line(lx, plotTop + 194, lx, plotTop + 204, `stroke="${SERVER_COLORS[server] ?? '#777'}" stroke-width="3"`)}${text(lx + 6, plotTop + 203, `reply from ${server} (${i === 0 ? 'old holder' : 'new holder'})`, `${FONT} font-size="11"`)}`;
  });
  parts.push(...legend);
  return { svg: parts.join('\n'), height };
}

function distributions(configs: readonly FailoverConfigResult[], top: number): { svg: string; height: number } {
  const withRuns = configs.filter((c) => c.runs.length > 0);
  const rowHeight = 46;
  const plotTop = top + 34;
  const height = 34 + withRuns.length * rowHeight + 50;
  const all = withRuns.flatMap((c) => c.runs.map((r) => r.outageMs)).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...all, 10))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 100)));
  const x = (v: number): number =>
    LEFT + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PLOT;
  const parts: string[] = [];
  parts.push(
    text(
      20,
      top + 18,
      'Outage per run (observer: last reply before the crash to first reply after), log scale',
      `${FONT} font-size="15" font-weight="bold"`,
    ),
  );
  const plotHeight = withRuns.length * rowHeight;
  parts.push(rect(LEFT, plotTop, PLOT, plotHeight, 'fill="#fafafa" stroke="#ccc"'));
  for (const tick of logTicks(lo, hi)) {
    for (const minor of [2, 3, 5]) {
      if (tick * minor < hi)
        parts.push(line(x(tick * minor), plotTop, x(tick * minor), plotTop + plotHeight, 'stroke="#eee"'));
    }
    parts.push(line(x(tick), plotTop, x(tick), plotTop + plotHeight + 5, 'stroke="#bbb"'));
    parts.push(
      text(
        x(tick),
        plotTop + plotHeight + 18,
        formatMs(tick),
        `${FONT} font-size="10" text-anchor="middle" fill="#444"`,
      ),
    );
  }
  withRuns.forEach((config, i) => {
    const y = plotTop + i * rowHeight + rowHeight / 2;
    const color = CONFIG_COLORS[i % CONFIG_COLORS.length] ?? '#333';
    parts.push(text(LEFT - 8, y - 2, config.name, `${FONT} font-size="11.5" text-anchor="end" font-weight="bold"`));
    const d = config.outageMs;
    if (d !== null) {
      parts.push(
        text(
          LEFT - 8,
          y + 12,
          `median ${formatMs(d.median)}, p95 ${formatMs(d.p95)}`,
          `${FONT} font-size="10" text-anchor="end" fill="#444"`,
        ),
      );
      parts.push(line(x(d.min), y, x(d.max), y, `stroke="${color}" stroke-width="1.5" opacity="0.6"`));
      parts.push(line(x(d.median), y - 14, x(d.median), y + 14, `stroke="${color}" stroke-width="3"`));
      parts.push(line(x(d.p95), y - 9, x(d.p95), y + 9, `stroke="${color}" stroke-width="1.5" stroke-dasharray="2,2"`));
    }
    config.runs.forEach((run, j) => {
      const jitter = ((j * 7) % 11) - 5;
      parts.push(circle(x(run.outageMs), y + jitter * 1.4, 3, `fill="${color}" fill-opacity="0.55" stroke="${color}"`));
    });
  });
  parts.push(
    text(
      LEFT + PLOT,
      plotTop + plotHeight + 34,
      'dots: runs; thick tick: median; dashed tick: p95; line: min to max',
      `${FONT} font-size="10" text-anchor="end" fill="#444"`,
    ),
  );
  return { svg: parts.join('\n'), height };
}

export function renderSvg(title: string, subtitle: string, configs: readonly FailoverConfigResult[]): string {
  const blocks: string[] = [];
  let y = 58;
  const ours =
    configs.find((c) => c.name === 'hotspare-default' && c.representative !== null) ??
    configs.find((c) => c.name.startsWith('hotspare') && c.representative !== null);
  const theirs = configs.find((c) => c.name === 'keepalived-fast' && c.representative !== null);
  for (const [label, config] of [
    ['ours', ours],
    ['keepalived, fastest setting', theirs],
  ] as const) {
    if (config === undefined || config.representative === null) continue;
    const rep = config.representative;
    const block = timeline(
      `${config.name} (${label}): run ${rep.run}, the one closest to the median; ${rep.oldHolder} loses power, ${rep.newHolder} takes over`,
      rep,
      y,
    );
    blocks.push(block.svg);
    y += block.height;
  }
  const dist = distributions(configs, y);
  blocks.push(dist.svg);
  y += dist.height;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="26" ${FONT} font-size="18" font-weight="bold">${esc(title)}</text>
<text x="20" y="46" ${FONT} font-size="12" fill="#444">${esc(subtitle)}</text>
${blocks.join('\n')}
</svg>
`;
}
