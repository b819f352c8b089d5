"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { ErrorMessage, Loading, NotAllowed } from "@/components/states";
import { UploadProgress, fileProblem, useDeckUpload } from "@/components/upload";
import { api, json } from "@/lib/api";
import { useRequireUser } from "@/lib/auth";
import { parseEmails } from "@/lib/emails";
import type { Audience, Presentation } from "@/lib/types";

export default function NewDeckPage() {
  const { user, allowed } = useRequireUser(["presenter", "admin"]);
  const router = useRouter();
  const { state, send } = useDeckUpload();
  const [audience, setAudience] = useState<Audience>("named");
  const [error, setError] = useState<unknown>(null);
  // Kept when the PDF is refused, so a second try uploads to the same deck instead of making another.
  const [created, setCreated] = useState<string | null>(null);

  if (!user) return <Loading what="your session" />;
  if (!allowed) return <NotAllowed />;

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const file = form.get("pdf") as File | null;
    const problem = fileProblem(file);
    if (problem) {
      setError(new Error(problem));
      return;
    }
    setError(null);
    try {
      let id = created;
      if (!id) {
        const title = String(form.get("title")).trim();
        const deck = await api<Presentation>(
          "presentations",
          json("POST", {
            title,
            subtitle: String(form.get("subtitle") ?? "").trim() || null,
            audience,
            viewer_emails: audience === "named" ? parseEmails(String(form.get("viewers") ?? "")) : [],
            // Replaced by the PDF's pages as soon as the upload below is rendered.
            slides: [{ title }],
          }),
        );
        id = deck.id;
        setCreated(id);
      }
      await send(id, file as File);
      router.push(`/decks/${id}/analytics`);
    } catch (reason) {
      setError(reason);
    }
  }

  const busy = state.phase !== "idle";
  return (
    <section className="narrow">
      <h1>New deck</h1>
      <form className="card" onSubmit={submit}>
        <label htmlFor="title">Title</label>
        <input id="title" name="title" required maxLength={200} disabled={!!created} />
        <label htmlFor="subtitle">Subtitle</label>
        <input id="subtitle" name="subtitle" maxLength={300} disabled={!!created} />
        <fieldset disabled={!!created}>
          <legend>Who can view</legend>
          <label className="inline">
            <input type="radio" name="audience" value="named" checked={audience === "named"} onChange={() => setAudience("named")} />
            Named viewers
          </label>
          <label className="inline">
            <input
              type="radio"
              name="audience"
              value="everyone"
              checked={audience === "everyone"}
              onChange={() => setAudience("everyone")}
            />
            Every signed-in user
          </label>
        </fieldset>
        {audience === "named" && (
          <>
            <label htmlFor="viewers">Viewer emails</label>
            <textarea id="viewers" name="viewers" rows={3} aria-describedby="viewers-help" disabled={!!created} />
            <p id="viewers-help" className="muted">
              One per line or separated by commas. Each must have an account.
            </p>
          </>
        )}
        <label htmlFor="pdf">PDF file</label>
        <input id="pdf" name="pdf" type="file" accept="application/pdf,.pdf" required aria-describedby="pdf-help" />
        <p id="pdf-help" className="muted">
          Up to 50 MB and 300 pages. Every page becomes a slide.
        </p>
        <UploadProgress state={state} />
        {error ? <ErrorMessage error={error} /> : null}
        <button type="submit" disabled={busy}>
          {created ? "Upload PDF" : "Create deck"}
        </button>
      </form>
    </section>
  );
}
