"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";

import { signOut } from "@/lib/api";
import { canPresent, useAuth } from "@/lib/auth";

export function Nav() {
  const { user } = useAuth();
  const router = useRouter();
  return (
    <header className="topbar">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Link href="/decks" className="brand">
        Presentation Analytics
      </Link>
      {user && (
        <nav aria-label="Main">
          <ul>
            <li>
              <Link href="/decks">Decks</Link>
            </li>
            {canPresent(user) && (
              <li>
                <Link href="/decks/new">New deck</Link>
              </li>
            )}
            {user.role === "admin" && (
              <li>
                <Link href="/admin">Admin</Link>
              </li>
            )}
            <li className="who">
              <span>{user.email}</span>
              <button
                type="button"
                onClick={async () => {
                  await signOut();
                  router.replace("/signin");
                }}
              >
                Sign out
              </button>
            </li>
          </ul>
        </nav>
      )}
    </header>
  );
}
