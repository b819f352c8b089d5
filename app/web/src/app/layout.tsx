import type { Metadata, Viewport } from "next";
import { headers } from "next/headers";
import type { ReactNode } from "react";

import { Nav } from "@/components/nav";
import { AuthProvider } from "@/lib/auth";

import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Presentation Analytics", template: "%s · Presentation Analytics" },
  description: "Share decks, watch how they are read.",
  robots: { index: false, follow: false },
};

export const viewport: Viewport = { width: "device-width", initialScale: 1, themeColor: "#1d4ed8" };

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Reading the request makes every page render per request, so each gets its response's CSP nonce.
  await headers();
  return (
    <html lang="en">
      <body>
        <AuthProvider>
          <Nav />
          <main id="main">{children}</main>
        </AuthProvider>
      </body>
    </html>
  );
}
