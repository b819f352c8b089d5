"use client";

import Link from "next/link";
import { useParams } from "next/navigation";
import { useState } from "react";

import { SlideCharts } from "@/components/charts";
import { Empty, ErrorMessage, Loading, NotAllowed } from "@/components/states";
import { Tile } from "@/components/tile";
import { api, download } from "@/lib/api";
import { useRequireUser } from "@/lib/auth";
import type { Feedback, Page, PresentationAnalytics, ViewerAnalytics } from "@/lib/types";
import { useResource } from "@/lib/useResource";

const REFRESH_MS = 5000;

interface Numbers {
  analytics: PresentationAnalytics;
  viewers: ViewerAnalytics[];
  feedback: Feedback[];
  at: Date;
}

const seconds = (value: number | null | undefined) => (value === null || value === undefined ? "–" : value.toFixed(1));
const percent = (value: number | null) => (value === null ? "–" : `${Math.round(value * 100)} %`);

export default function AnalyticsPage() {
  const { id } = useParams<{ id: string }>();
  const { user, allowed } = useRequireUser(["presenter", "admin"]);
  const [exportError, setExportError] = useState<unknown>(null);
  const numbers = useResource<Numbers>(
    async () => {
      const base = `analytics/presentations/${id}`;
      const [analytics, viewers, feedback] = await Promise.all([
        api<PresentationAnalytics>(base),
        api<ViewerAnalytics[]>(`${base}/viewers`),
        api<Page<Feedback>>(`${base}/feedback?limit=100`),
      ]);
      return { analytics, viewers, feedback: feedback.data, at: new Date() };
    },
    [id],
    allowed,
    REFRESH_MS,
  );

  if (!user) return <Loading what="your session" />;
  if (!allowed) return <NotAllowed />;
  if (!numbers.data) {
    return numbers.error ? <ErrorMessage error={numbers.error} retry={numbers.reload} /> : <Loading what="analytics" />;
  }
  const { analytics, viewers, feedback, at } = numbers.data;
  const emails = new Map(viewers.map((viewer) => [viewer.viewer_id, viewer.email]));

  async function exportCsv(kind: "sessions" | "slides") {
    setExportError(null);
    try {
      await download(`analytics/presentations/${id}/export/${kind}.csv`, `${analytics.title}-${kind}.csv`);
    } catch (reason) {
      setExportError(reason);
    }
  }

  return (
    <section>
      <div className="heading-row">
        <h1>{analytics.title}</h1>
        <p className="actions">
          <Link href={`/decks/${id}`}>Open the deck</Link>
          <Link href={`/decks/${id}/settings`}>Settings</Link>
        </p>
      </div>
      <p className="muted" role="status" aria-live="off">
        Updated {at.toLocaleTimeString("en-GB", { hour12: false })}
        {analytics.active_sessions > 0 && ` · ${analytics.active_sessions} watching now`}
        {numbers.error ? " · the last refresh failed, retrying" : ""}
      </p>
      <div className="tiles">
        <Tile label="Sessions" value={String(analytics.sessions)} />
        <Tile label="Unique viewers" value={String(analytics.unique_viewers)} />
        <Tile label="Completion rate" value={percent(analytics.completion_rate)} />
        <Tile label="Mean rating" value={analytics.feedback.mean_rating === null ? "–" : analytics.feedback.mean_rating.toFixed(1)} />
        <Tile label="Mean session" value={`${seconds(analytics.mean_session_seconds)} s`} />
      </div>
      {analytics.sessions === 0 ? (
        <Empty>No one has watched this deck yet. Numbers appear here as soon as someone does.</Empty>
      ) : (
        <SlideCharts analytics={analytics} />
      )}
      <div className="actions">
        <button type="button" onClick={() => void exportCsv("sessions")}>
          Export sessions CSV
        </button>
        <button type="button" onClick={() => void exportCsv("slides")}>
          Export slides CSV
        </button>
      </div>
      {exportError ? <ErrorMessage error={exportError} /> : null}
      <div className="table-wrap">
        <table>
          <caption>Slides</caption>
          <thead>
            <tr>
              <th scope="col">Slide</th>
              <th scope="col">Title</th>
              <th scope="col">Views</th>
              <th scope="col">Mean dwell (s)</th>
              <th scope="col">Median dwell (s)</th>
              <th scope="col">Drop-offs</th>
            </tr>
          </thead>
          <tbody>
            {analytics.slides.map((slide) => (
              <tr key={slide.slide_index}>
                <th scope="row">{slide.slide_index + 1}</th>
                <td>{slide.title ?? "(removed)"}</td>
                <td>{slide.views}</td>
                <td>{seconds(slide.dwell_mean_seconds)}</td>
                <td>{seconds(slide.dwell_median_seconds)}</td>
                <td>{slide.drop_offs}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="table-wrap">
        <table>
          <caption>Viewers</caption>
          <thead>
            <tr>
              <th scope="col">Viewer</th>
              <th scope="col">Sessions</th>
              <th scope="col">Time (s)</th>
              <th scope="col">Furthest slide</th>
              <th scope="col">Rating</th>
            </tr>
          </thead>
          <tbody>
            {viewers.length === 0 ? (
              <tr>
                <td colSpan={5}>No viewers yet.</td>
              </tr>
            ) : (
              viewers.map((viewer) => (
                <tr key={viewer.viewer_id}>
                  <th scope="row">{viewer.email}</th>
                  <td>{viewer.sessions}</td>
                  <td>{seconds(viewer.total_seconds)}</td>
                  <td>{viewer.furthest_slide === null ? "–" : viewer.furthest_slide + 1}</td>
                  <td>{viewer.rating ?? "–"}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      <h2 id="feedback-list">Feedback</h2>
      {feedback.length === 0 ? (
        <Empty>No feedback yet.</Empty>
      ) : (
        <ul aria-labelledby="feedback-list" className="feedback-list">
          {feedback.map((item) => (
            <li key={item.id} className="card">
              <strong aria-hidden="true">{"★".repeat(item.rating)}</strong> <span className="sr-only">{item.rating} of 5</span>
              <span className="muted"> {emails.get(item.viewer_id) ?? "a viewer"}</span>
              {item.comment && <p>{item.comment}</p>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
