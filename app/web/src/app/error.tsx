"use client";

// The error boundary of every page: the page's own state is lost, the layout (and the session) stay.
export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <section className="narrow" role="alert">
      <h1>Something went wrong</h1>
      <p>{error.message || "The page failed to render."}</p>
      <button type="button" onClick={reset}>
        Try again
      </button>
    </section>
  );
}
