"use client";

import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useCallback, useEffect, useRef, useState, type PointerEvent } from "react";

import { FeedbackForm } from "@/components/feedback";
import { ErrorMessage, Loading } from "@/components/states";
import { api, apiFetch, json } from "@/lib/api";
import { useRequireUser } from "@/lib/auth";
import { Reporter } from "@/lib/reporter";
import type { Deck, Presentation, SessionOpened } from "@/lib/types";

const HEARTBEAT_MS = 15_000;
const SWIPE_PX = 40;

interface Loaded {
  presentation: Presentation;
  deck: Deck | null; // null: typed slides, shown as text
  session: SessionOpened;
}

/** Slide images come with the access token, so they are fetched and shown from blob: URLs. */
function useSlideImages(deck: Deck | null) {
  const urls = useRef(new Map<number, Promise<string>>());
  const [ready, setReady] = useState<Record<number, string>>({});
  const width = useRef(1600);
  useEffect(() => {
    if (!deck) return;
    const needed = window.innerWidth * (window.devicePixelRatio || 1);
    width.current = [...deck.widths].sort((a, b) => a - b).find((candidate) => candidate >= needed) ?? Math.max(...deck.widths);
    const cache = urls.current;
    return () => {
      for (const url of cache.values()) void url.then(URL.revokeObjectURL, () => undefined);
      cache.clear();
    };
  }, [deck]);
  const load = useCallback(
    (position: number) => {
      if (!deck || position < 1 || position > deck.slides.length || urls.current.has(position)) return;
      const slide = deck.slides[position - 1];
      if (!slide) return;
      const base = slide.image_url.split("?")[0];
      const request = apiFetch(`${base}?width=${width.current}`)
        .then((response) => response.blob())
        .then((blob) => URL.createObjectURL(blob));
      urls.current.set(position, request);
      request.then(
        (url) => setReady((current) => ({ ...current, [position]: url })),
        () => urls.current.delete(position), // a later visit tries again
      );
    },
    [deck],
  );
  return { ready, load };
}

export default function ViewerPage() {
  const { id } = useParams<{ id: string }>();
  const { user } = useRequireUser();
  const router = useRouter();
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [position, setPosition] = useState(1);
  const [left, setLeft] = useState(false);
  const [showFeedback, setShowFeedback] = useState(false);
  const reporter = useRef<Reporter | null>(null);
  const positionRef = useRef(1);
  const stage = useRef<HTMLDivElement>(null);
  const swipe = useRef<{ x: number; y: number } | null>(null);
  const swiped = useRef(false);
  const { ready, load } = useSlideImages(loaded?.deck ?? null);

  // Open the deck and a viewing session (once per user: a token refresh gives a new user object).
  const userId = user?.id;
  useEffect(() => {
    if (!userId) return;
    let live = true;
    (async () => {
      const presentation = await api<Presentation>(`presentations/${id}`);
      const deck = presentation.deck_version ? await api<Deck>(`presentations/${id}/deck`) : null;
      const session = await api<SessionOpened>("sessions", json("POST", { presentation_id: id }));
      if (!live) return;
      const opened = new Reporter(session.id, session.ingest_token);
      opened.onEnded = () => setLeft(true);
      reporter.current = opened;
      opened.record("slide_enter", 0, true);
      setLoaded({ presentation, deck, session });
    })().catch((reason: unknown) => live && setError(reason));
    return () => {
      live = false;
    };
  }, [id, userId]);

  const count = loaded ? (loaded.deck?.slides.length ?? loaded.presentation.slides.length) : 0;

  const go = useCallback(
    (target: number) => {
      const current = positionRef.current;
      const next = Math.min(Math.max(target, 1), count);
      if (next === current || left || !reporter.current) return;
      reporter.current.record("slide_leave", current - 1);
      reporter.current.record("slide_enter", next - 1, true);
      positionRef.current = next;
      setPosition(next);
    },
    [count, left],
  );

  // Preload the slide shown and its neighbours (the next one first).
  useEffect(() => {
    load(position);
    load(position + 1);
    load(position - 1);
  }, [position, load]);

  // Keyboard.
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      const target = event.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName) && event.key !== "Escape") return;
      const step: Record<string, number> = { ArrowRight: 1, PageDown: 1, " ": 1, ArrowLeft: -1, PageUp: -1 };
      if (event.key in step) go(positionRef.current + (step[event.key] ?? 0));
      else if (event.key === "Home") go(1);
      else if (event.key === "End") go(count);
      else return;
      event.preventDefault();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [go, count]);

  // Heartbeats while the page is visible; the end of the session when the page goes away.
  useEffect(() => {
    if (!loaded) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") {
        reporter.current?.record("heartbeat", positionRef.current - 1);
        void reporter.current?.flush();
      }
    }, HEARTBEAT_MS);
    const onPageHide = () => reporter.current?.beacon(positionRef.current - 1);
    // Back from the back-forward cache with an ended session: start again with a new one.
    const onPageShow = (event: PageTransitionEvent) => {
      if (event.persisted) window.location.reload();
    };
    window.addEventListener("pagehide", onPageHide);
    window.addEventListener("pageshow", onPageShow);
    return () => {
      clearInterval(timer);
      window.removeEventListener("pagehide", onPageHide);
      window.removeEventListener("pageshow", onPageShow);
      // Leaving for another page of this site is a pagehide too, as far as the session is concerned.
      reporter.current?.beacon(positionRef.current - 1);
    };
  }, [loaded]);

  async function leave() {
    await reporter.current?.close(positionRef.current - 1);
    setLeft(true);
    setShowFeedback(true);
    if (document.fullscreenElement) await document.exitFullscreen();
  }

  function onPointerDown(event: PointerEvent<HTMLDivElement>) {
    swipe.current = { x: event.clientX, y: event.clientY };
    swiped.current = false;
  }

  function onPointerUp(event: PointerEvent<HTMLDivElement>) {
    const start = swipe.current;
    swipe.current = null;
    if (!start) return;
    const dx = event.clientX - start.x;
    if (Math.abs(dx) >= SWIPE_PX && Math.abs(dx) > Math.abs(event.clientY - start.y)) {
      swiped.current = true; // the click that follows the pointerup is not a tap
      go(positionRef.current + (dx < 0 ? 1 : -1));
    }
  }

  function onClick(event: React.MouseEvent<HTMLDivElement>) {
    if (swiped.current) {
      swiped.current = false;
      return;
    }
    const box = event.currentTarget.getBoundingClientRect();
    go(positionRef.current + (event.clientX - box.left > box.width / 2 ? 1 : -1));
  }

  if (!user) return <Loading what="your session" />;
  if (error) return <ErrorMessage error={error} retry={() => window.location.reload()} />;
  if (!loaded) return <Loading what="the deck" />;

  const { presentation, deck, session } = loaded;
  const title = deck?.slides[position - 1]?.title ?? presentation.slides[position - 1]?.title ?? "";
  const alt = `Slide ${position} of ${count}: ${title}`;
  const image = ready[position];
  const typed = deck ? null : presentation.slides[position - 1];

  return (
    <section className="viewer">
      <div className="heading-row">
        <h1>{presentation.title}</h1>
        <Link href="/decks" onClick={(event) => { event.preventDefault(); router.push("/decks"); }}>
          All decks
        </Link>
      </div>
      <div
        ref={stage}
        className="stage"
        role="region"
        aria-label="Slide viewer"
        aria-roledescription="slide viewer"
        data-session-id={session.id}
        data-slide={position}
      >
        <div
          className="slide"
          onClick={onClick}
          onPointerDown={onPointerDown}
          onPointerUp={onPointerUp}
          onPointerCancel={() => (swipe.current = null)}
        >
          {typed ? (
            <div className="typed-slide" role="img" aria-label={alt}>
              <h2>{typed.title}</h2>
              <p>{typed.content}</p>
            </div>
          ) : image ? (
            // eslint-disable-next-line @next/next/no-img-element
            <img src={image} alt={alt} draggable={false} />
          ) : (
            <p className="state" role="status">
              <span className="spinner" aria-hidden="true" /> Loading slide {position}…
            </p>
          )}
        </div>
        <div className="controls">
          <button type="button" onClick={() => go(position - 1)} disabled={position <= 1 || left}>
            Previous slide
          </button>
          <span role="status" aria-label="Slide position" aria-live="polite">
            {position} / {count}
          </span>
          <button type="button" onClick={() => go(position + 1)} disabled={position >= count || left}>
            Next slide
          </button>
          <button type="button" onClick={() => void stage.current?.requestFullscreen?.()}>
            Full screen
          </button>
          <button type="button" onClick={() => void leave()} disabled={left}>
            Leave deck
          </button>
          <button type="button" onClick={() => setShowFeedback(true)} disabled={showFeedback}>
            Give feedback
          </button>
        </div>
      </div>
      {left && <p role="status">You have left this deck. Your viewing time is saved.</p>}
      {showFeedback && <FeedbackForm presentationId={presentation.id} />}
    </section>
  );
}
