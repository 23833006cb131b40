// console/chart — a uPlot line chart over categories (days, domains, senders...): one
// x position per label, one line per series. uPlot draws on a canvas, so the figures are
// also written into the container's data-series attribute (what tests and screen readers
// can read) and every page shows the same rows as a table beside the chart.
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './ui.js';

/** Series colours, in order (distinct under the common colour-vision deficiencies). */
export const COLOURS = ['#1d4ed8', '#059669', '#dc2626', '#d97706', '#7c3aed', '#0891b2', '#be185d'];

/**
 * labels: the x categories; series: [{ label, values }] with one value per label.
 * Redrawn when the data changes and when the container's width does.
 */
export function Chart({ labels, series, height = 220, id, title }) {
  const box = useRef(null);
  const key = JSON.stringify([labels, series]);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const opts = {
      width: Math.max(el.clientWidth, 280), height, title,
      scales: { x: { time: false, range: [-0.5, Math.max(labels.length - 0.5, 0.5)] } },
      axes: [
        { values: (_u, ticks) => ticks.map((i) => (Number.isInteger(i) ? labels[i] ?? '' : '')), incrs: [1] },
        { size: 50 },
      ],
      legend: { live: false },
      cursor: { show: false },
      series: [{ label: 'x' }, ...series.map((s, i) => ({
        label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true, size: 6 },
      }))],
    };
    const plot = new uPlot(opts, [labels.map((_l, i) => i), ...series.map((s) => s.values)], el);
    const ro = typeof ResizeObserver === 'function'
      ? new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 280), height })) : null;
    ro?.observe(el);
    return () => { ro?.disconnect(); plot.destroy(); };
  }, [key, height]);
  const shown = Object.fromEntries(series.map((s) => [s.key ?? s.label, s.values]));
  return html`<div class="chart" ref=${box} data-testid=${id} data-series=${JSON.stringify(shown)} role="img" aria-label=${title ?? series.map((s) => s.label).join(', ')}></div>`;
}
