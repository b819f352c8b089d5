// Reports a viewing session's events. Every event gets its UUID when it happens and keeps it: a batch
// that failed (offline, 5xx, 429) is sent again with the same ids, and the service ignores the ones it
// already stored. Navigation events go out at once (the service times dwell by when it receives them);
// heartbeats wait for the next send. On pagehide the rest goes with sendBeacon, which survives the page.

import { API } from "@/lib/api";
import type { IngestResult } from "@/lib/types";

export type EventType = "slide_enter" | "slide_leave" | "heartbeat" | "session_end";

interface ViewEvent {
  event_id: string;
  type: EventType;
  slide_index: number;
  client_ts: string;
}

const MAX_BATCH = 500; // the service's limit
const MAX_QUEUE = 5000; // offline for hours: keep the newest, never grow without bound
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

export class Reporter {
  private queue: ViewEvent[] = [];
  private sending = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;
  onEnded: (() => void) | undefined;

  constructor(
    private readonly sessionId: string,
    private readonly token: string,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  record(type: EventType, slideIndex: number, sendNow = false): void {
    if (this.ended) return;
    this.queue.push({
      event_id: crypto.randomUUID(),
      type,
      slide_index: slideIndex,
      client_ts: new Date().toISOString(),
    });
    if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    if (sendNow) void this.flush();
  }

  /** Sends what is queued, one batch at a time, until empty or a send fails (then retries later). */
  async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    clearTimeout(this.retryTimer);
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, MAX_BATCH);
        let response: Response;
        try {
          response = await fetch(`${API}/sessions/${this.sessionId}/events`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${this.token}` },
            body: JSON.stringify({ events: batch }),
            keepalive: true,
          });
        } catch {
          this.retryLater();
          return;
        }
        if (response.status === 429 || response.status >= 500) {
          this.retryLater();
          return;
        }
        // Sent (or refused for good, e.g. a 4xx for an expired session): either way not to be sent again.
        this.queue.splice(0, batch.length);
        this.failures = 0;
        if (response.ok) {
          const result = (await response.json()) as IngestResult;
          if (result.session_ended) this.end();
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private retryLater(): void {
    const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)] ?? 30_000;
    this.failures += 1;
    this.retryTimer = setTimeout(() => void this.flush(), delay);
  }

  private end(): void {
    this.ended = true;
    this.queue = [];
    clearTimeout(this.retryTimer);
    this.onEnded?.();
  }

  /** Ends the session: `slide_leave` of the current slide and `session_end`, with fetch (keepalive). */
  async close(slideIndex: number): Promise<void> {
    if (this.ended) return;
    this.record("slide_leave", slideIndex);
    this.record("session_end", slideIndex);
    await this.flush();
    this.ended = true;
    clearTimeout(this.retryTimer);
  }

  /** The page is going away: the rest and the end in one sendBeacon (no headers: the token is in the body). */
  beacon(slideIndex: number): void {
    if (this.ended) return;
    this.record("slide_leave", slideIndex);
    this.record("session_end", slideIndex);
    const events = this.queue.slice(-MAX_BATCH);
    const body = new Blob([JSON.stringify({ token: this.token, events })], { type: "text/plain" });
    const queued = navigator.sendBeacon(`${API}/sessions/${this.sessionId}/beacon`, body);
    if (queued) {
      this.queue = [];
      this.ended = true;
      clearTimeout(this.retryTimer);
    } else {
      void this.flush();
    }
  }
}
