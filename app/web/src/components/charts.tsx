"use client";

// The analytics charts (Recharts, loaded only by the analytics page). Every bar carries an aria-label with
// its value, and every chart has a table of the same numbers beside it on the page.

import {
  Bar,
  BarChart,
  CartesianGrid,
  Line,
  LineChart,
  Rectangle,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
  type BarShapeProps,
} from "recharts";

import type { PresentationAnalytics } from "@/lib/types";

interface SlidePoint {
  slide: string;
  dwell: number;
  dropOffs: number;
}

const BLUE = "#1d4ed8";
const ORANGE = "#b45309";

/** A bar that names its value; a group, so a bar of height 0 (which draws nothing) still says "0". */
function labelled(label: (point: SlidePoint) => string) {
  // eslint-disable-next-line react/display-name
  return (props: BarShapeProps) => (
    <g role="img" aria-label={label(props.payload as SlidePoint)}>
      <Rectangle {...props} />
    </g>
  );
}

export function SlideCharts({ analytics }: { analytics: PresentationAnalytics }) {
  const points: SlidePoint[] = analytics.slides.map((slide) => ({
    slide: String(slide.slide_index + 1),
    dwell: Number((slide.dwell_mean_seconds ?? 0).toFixed(1)),
    dropOffs: slide.drop_offs,
  }));
  return (
    <div className="charts">
      <figure>
        <figcaption>Time per slide</figcaption>
        <ResponsiveContainer width="100%" height={240}>
          <BarChart data={points} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="slide" label={{ value: "slide", position: "insideBottom", offset: -4 }} />
            <YAxis unit=" s" width={56} />
            <Tooltip formatter={(value) => [`${String(value)} s`, "mean dwell"]} labelFormatter={(label) => `Slide ${String(label)}`} />
            <Bar
              dataKey="dwell"
              fill={BLUE}
              isAnimationActive={false}
              shape={labelled((point) => `Slide ${point.slide}: ${point.dwell.toFixed(1)} s`)}
            />
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <figure>
        <figcaption>Drop-off by slide</figcaption>
        <ResponsiveContainer width="100%" height={240}>
          <BarChart data={points} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="slide" />
            <YAxis allowDecimals={false} width={40} />
            <Tooltip formatter={(value) => [String(value), "sessions that stopped here"]} labelFormatter={(label) => `Slide ${String(label)}`} />
            <Bar
              dataKey="dropOffs"
              fill={ORANGE}
              isAnimationActive={false}
              shape={labelled((point) => `Slide ${point.slide}: ${point.dropOffs} sessions`)}
            />
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <figure>
        <figcaption>Sessions per day</figcaption>
        <ResponsiveContainer width="100%" height={240}>
          <LineChart data={analytics.sessions_per_day} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey="day" />
            <YAxis allowDecimals={false} width={40} />
            <Tooltip />
            <Line dataKey="sessions" stroke={BLUE} isAnimationActive={false} dot />
          </LineChart>
        </ResponsiveContainer>
      </figure>
    </div>
  );
}
