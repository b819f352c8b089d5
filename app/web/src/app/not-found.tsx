import Link from "next/link";

export default function NotFound() {
  return (
    <section className="narrow">
      <h1>Not found</h1>
      <p>There is no page at this address.</p>
      <Link href="/decks">Go to your decks</Link>
    </section>
  );
}
