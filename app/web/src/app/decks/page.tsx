"use client";

import Link from "next/link";

import { Empty, ErrorMessage, Loading } from "@/components/states";
import { api } from "@/lib/api";
import { canPresent, useRequireUser } from "@/lib/auth";
import type { Page, PresentationSummary } from "@/lib/types";
import { useResource } from "@/lib/useResource";

export default function DecksPage() {
  const { user } = useRequireUser();
  const decks = useResource(() => api<Page<PresentationSummary>>("presentations?limit=100"), [], !!user);
  if (!user) return <Loading what="your session" />;
  return (
    <section>
      <div className="heading-row">
        <h1>Decks</h1>
        {canPresent(user) && (
          <Link className="button" href="/decks/new">
            New deck
          </Link>
        )}
      </div>
      {decks.error ? (
        <ErrorMessage error={decks.error} retry={decks.reload} />
      ) : !decks.data ? (
        <Loading what="decks" />
      ) : decks.data.data.length === 0 ? (
        <Empty>
          No decks yet.{" "}
          {canPresent(user) ? <Link href="/decks/new">Upload a PDF to make one.</Link> : "Decks shared with you appear here."}
        </Empty>
      ) : (
        <ul className="deck-list">
          {decks.data.data.map((deck) => {
            const manages = deck.owner_id === user.id || user.role === "admin";
            return (
              <li key={deck.id} className="card">
                <Link href={`/decks/${deck.id}`} className="deck-title">
                  {deck.title}
                </Link>
                {deck.subtitle && <p className="muted">{deck.subtitle}</p>}
                <p className="muted">
                  {deck.slide_count} {deck.slide_count === 1 ? "slide" : "slides"}
                  {!deck.is_active && " · inactive"}
                </p>
                {manages && (
                  <p className="actions">
                    <Link href={`/decks/${deck.id}/analytics`}>
                      Analytics
                    </Link>
                    <Link href={`/decks/${deck.id}/settings`}>
                      Settings
                    </Link>
                  </p>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
