"use client";

import { useState } from "react";

import { upload } from "@/lib/api";
import type { Deck } from "@/lib/types";

export const MAX_PDF_BYTES = 50 * 1024 * 1024; // the service's default PAP_DECK_MAX_BYTES; it has the last word

/** What is wrong with the chosen file before sending it, or null. */
export function fileProblem(file: File | null | undefined): string | null {
  if (!file || file.size === 0) return "Choose a PDF file.";
  if (file.size > MAX_PDF_BYTES) return `The file is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is 50 MB.`;
  return null;
}

export type UploadState = { phase: "idle" } | { phase: "sending"; percent: number } | { phase: "rendering" };

/** Sends the PDF with progress; the server renders every page before it answers. */
export function useDeckUpload() {
  const [state, setState] = useState<UploadState>({ phase: "idle" });
  async function send(presentationId: string, file: File): Promise<Deck> {
    setState({ phase: "sending", percent: 0 });
    try {
      return await upload<Deck>(`presentations/${presentationId}/deck`, file, "application/pdf", (fraction) => {
        const percent = Math.round(fraction * 100);
        setState(percent >= 100 ? { phase: "rendering" } : { phase: "sending", percent });
      });
    } finally {
      setState({ phase: "idle" });
    }
  }
  return { state, send };
}

export function UploadProgress({ state }: { state: UploadState }) {
  if (state.phase === "idle") return null;
  if (state.phase === "rendering") {
    return (
      <p role="status" aria-live="polite">
        <span className="spinner" aria-hidden="true" /> Rendering slides…
      </p>
    );
  }
  return (
    <div className="progress">
      <progress aria-label="Upload progress" max={100} value={state.percent} />
      <span aria-hidden="true">{state.percent} %</span>
    </div>
  );
}
