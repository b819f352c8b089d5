"use client";

import Link from "next/link";
import { useParams } from "next/navigation";
import { useState, type FormEvent } from "react";

import { ErrorMessage, Loading, NotAllowed } from "@/components/states";
import { UploadProgress, fileProblem, useDeckUpload } from "@/components/upload";
import { api, json } from "@/lib/api";
import { useRequireUser } from "@/lib/auth";
import { parseEmails } from "@/lib/emails";
import type { Audience, AudienceInfo, Presentation } from "@/lib/types";
import { useResource } from "@/lib/useResource";

export default function SettingsPage() {
  const { id } = useParams<{ id: string }>();
  const { user, allowed } = useRequireUser(["presenter", "admin"]);
  const loaded = useResource(
    async () => {
      const [presentation, audience] = await Promise.all([
        api<Presentation>(`presentations/${id}`),
        api<AudienceInfo>(`presentations/${id}/audience`),
      ]);
      return { presentation, audience };
    },
    [id],
    allowed,
  );
  const { state, send } = useDeckUpload();
  const [audience, setAudience] = useState<Audience | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  if (!user) return <Loading what="your session" />;
  if (!allowed) return <NotAllowed />;
  if (!loaded.data) {
    return loaded.error ? <ErrorMessage error={loaded.error} retry={loaded.reload} /> : <Loading what="the deck" />;
  }
  const { presentation } = loaded.data;
  const chosen = audience ?? loaded.data.audience.audience;

  async function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setError(null);
    setMessage(null);
    try {
      await api(`presentations/${id}`, json("PATCH", {
        title: String(form.get("title")).trim(),
        subtitle: String(form.get("subtitle") ?? "").trim() || null,
      }));
      await api(`presentations/${id}/audience`, json("PUT", {
        audience: chosen,
        viewer_emails: chosen === "named" ? parseEmails(String(form.get("viewers") ?? "")) : [],
      }));
      setMessage("Saved.");
      loaded.reload();
    } catch (reason) {
      setError(reason);
    }
  }

  async function replace(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const file = new FormData(event.currentTarget).get("pdf") as File | null;
    const problem = fileProblem(file);
    setError(null);
    setMessage(null);
    if (problem) {
      setError(new Error(problem));
      return;
    }
    try {
      const deck = await send(id, file as File);
      setMessage(`Version ${deck.version} is live: ${deck.page_count} slides.`);
      loaded.reload();
    } catch (reason) {
      setError(reason);
    }
  }

  return (
    <section className="narrow">
      <div className="heading-row">
        <h1>Settings</h1>
        <Link href={`/decks/${id}/analytics`}>Analytics</Link>
      </div>
      {message && <p role="status" className="card success">{message}</p>}
      {error ? <ErrorMessage error={error} /> : null}
      <form className="card" onSubmit={save} key={presentation.id + presentation.title}>
        <label htmlFor="title">Title</label>
        <input id="title" name="title" required maxLength={200} defaultValue={presentation.title} />
        <label htmlFor="subtitle">Subtitle</label>
        <input id="subtitle" name="subtitle" maxLength={300} defaultValue={presentation.subtitle ?? ""} />
        <fieldset>
          <legend>Who can view</legend>
          <label className="inline">
            <input type="radio" name="audience" checked={chosen === "named"} onChange={() => setAudience("named")} />
            Named viewers
          </label>
          <label className="inline">
            <input type="radio" name="audience" checked={chosen === "everyone"} onChange={() => setAudience("everyone")} />
            Every signed-in user
          </label>
        </fieldset>
        {chosen === "named" && (
          <>
            <label htmlFor="viewers">Viewer emails</label>
            <textarea
              id="viewers"
              name="viewers"
              rows={4}
              defaultValue={loaded.data.audience.viewer_emails.join("\n")}
            />
          </>
        )}
        <button type="submit">Save</button>
      </form>
      <form className="card" onSubmit={replace}>
        <h2>Upload new version</h2>
        <p className="muted">
          {presentation.deck_version
            ? `Now showing version ${presentation.deck_version} (${presentation.slides.length} slides). Sessions already watched keep their numbers.`
            : "This deck has no PDF yet."}
        </p>
        <label htmlFor="pdf">PDF file</label>
        <input id="pdf" name="pdf" type="file" accept="application/pdf,.pdf" required />
        <UploadProgress state={state} />
        <button type="submit" disabled={state.phase !== "idle"}>
          Upload new version
        </button>
      </form>
    </section>
  );
}
