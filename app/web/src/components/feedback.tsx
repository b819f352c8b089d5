"use client";

import { useState, type FormEvent } from "react";

import { ApiError, api, json } from "@/lib/api";

/** Rating and comment; a second send replaces the first (POST, then PUT on the 409 that says it exists). */
export function FeedbackForm({ presentationId }: { presentationId: string }) {
  const [rating, setRating] = useState<number | null>(null);
  const [state, setState] = useState<"idle" | "sending" | "sent">("idle");
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (rating === null) {
      setError("Choose a rating from 1 to 5 stars.");
      return;
    }
    const comment = String(new FormData(event.currentTarget).get("comment") ?? "").trim();
    const body = { rating, comment: comment || null };
    setState("sending");
    setError(null);
    const path = `presentations/${presentationId}/feedback`;
    try {
      try {
        await api(path, json("POST", body));
      } catch (reason) {
        if (!(reason instanceof ApiError && reason.status === 409)) throw reason;
        await api(path, json("PUT", body));
      }
      setState("sent");
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
      setState("idle");
    }
  }

  if (state === "sent") {
    return (
      <p role="status" className="card success">
        Thank you for your feedback.
      </p>
    );
  }
  return (
    <form className="card feedback" onSubmit={submit} aria-labelledby="feedback-heading">
      <h2 id="feedback-heading">Your feedback</h2>
      <fieldset>
        <legend>Rating</legend>
        <div className="stars">
          {[1, 2, 3, 4, 5].map((value) => (
            <label key={value} className="inline">
              <input
                type="radio"
                name="rating"
                value={value}
                checked={rating === value}
                onChange={() => setRating(value)}
              />
              {value === 1 ? "1 star" : `${value} stars`}
            </label>
          ))}
        </div>
      </fieldset>
      <label htmlFor="comment">Comment</label>
      <textarea id="comment" name="comment" rows={3} maxLength={2000} />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={state === "sending"}>
        {state === "sending" ? "Sending…" : "Send feedback"}
      </button>
    </form>
  );
}
