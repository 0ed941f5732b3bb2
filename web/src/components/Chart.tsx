/**
 * Chart draws a uPlot time series: timestamps in seconds and one or more
 * series, each on its own scale. It resizes with its container. A text
 * summary (caption) states what it shows for those who do not see it.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** ChartSeries is one line of a chart. */
export interface ChartSeries {
  label: string;
  /** scale names the y axis; series with the same scale share it. */
  scale: string;
  /** values has one entry per timestamp; null leaves a gap. */
  values: (number | null)[];
  /** color is the line's colour (a CSS colour). */
  color: string;
  /** range fixes the scale's bounds, e.g. [0, 100] for a percentage; unset, it follows the data. */
  range?: [number, number];
  /** format writes an axis or legend value. */
  format: (v: number) => string;
}

/** ChartProps are Chart's properties. */
export interface ChartProps {
  /** times are Unix seconds. */
  times: number[];
  series: ChartSeries[];
  /** caption describes the chart for screen readers. */
  caption: string;
  height?: number;
}

/** Chart renders the uPlot chart. */
export function Chart({ times, series, caption, height = 220 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const scales: uPlot.Scales = { x: { time: true } };
    const axes: uPlot.Axis[] = [{ stroke: cssVar(el, "--muted"), grid: { stroke: cssVar(el, "--border") } }];
    series.forEach((s, i) => {
      if (scales[s.scale]) return;
      scales[s.scale] = s.range ? { auto: false, range: s.range } : { auto: true, range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] };
      axes.push({
        scale: s.scale,
        side: i === 0 ? 3 : 1,
        stroke: cssVar(el, "--muted"),
        grid: { show: i === 0, stroke: cssVar(el, "--border") },
        values: (_u, splits) => splits.map((v) => s.format(v)),
        size: 60,
      });
    });
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height,
      scales,
      axes,
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          scale: s.scale,
          stroke: s.color,
          width: 2,
          spanGaps: false,
          points: { show: true, size: 4 },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "—" : s.format(v)),
        })),
      ],
      legend: { show: true },
    };
    const data = [times, ...series.map((s) => s.values)] as uPlot.AlignedData;
    const plot = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [times, series, height]);

  return (
    <figure class="chart-figure">
      <div ref={box} class="chart" role="img" aria-label={caption} />
      <figcaption class="visually-hidden">{caption}</figcaption>
    </figure>
  );
}

function cssVar(el: HTMLElement, name: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || "#888";
}
