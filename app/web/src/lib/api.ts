// The API client. The access token lives in this module's memory only: injected script finds nothing in
// localStorage or document.cookie. The refresh token is an HttpOnly cookie that only
// /api/v1/auth/session/* receives; a reload signs the page back in through it (see refreshSession).

export const API = "/api/v1";

export type Role = "viewer" | "presenter" | "admin";

export interface User {
  id: string;
  email: string;
  username: string;
  role: Role;
  is_active: boolean;
  created_at: string;
}

interface BrowserSession {
  access_token: string;
  expires_in: number;
  user: User;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let accessToken: string | null = null;
let refreshing: Promise<User | null> | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<(user: User | null) => void>();

export function onSessionChange(listener: (user: User | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function adopt(session: BrowserSession | null): User | null {
  clearTimeout(refreshTimer);
  accessToken = session?.access_token ?? null;
  if (session) {
    // Renew a minute before expiry, so a page left open never meets a 401.
    const delay = Math.max(10, session.expires_in - 60) * 1000;
    refreshTimer = setTimeout(() => void refreshSession(), delay);
  }
  const user = session?.user ?? null;
  for (const listener of listeners) listener(user);
  return user;
}

async function errorOf(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body: unknown = await response.json();
    if (body && typeof body === "object" && "detail" in body && typeof body.detail === "string") {
      message = body.detail;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

export async function signIn(email: string, password: string): Promise<User> {
  const response = await fetch(`${API}/auth/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
    credentials: "same-origin",
  });
  if (!response.ok) throw await errorOf(response);
  return adopt((await response.json()) as BrowserSession) as User;
}

/** A new access token from the refresh cookie; null when there is no session. One request at a time. */
export function refreshSession(): Promise<User | null> {
  refreshing ??= (async () => {
    try {
      const response = await fetch(`${API}/auth/session/refresh`, {
        method: "POST",
        headers: { "x-pap-session": "1" },
        credentials: "same-origin",
      });
      // 204: no session cookie (not signed in); 401: the cookie was spent, revoked or expired.
      if (response.status === 204 || response.status === 401) return adopt(null);
      if (!response.ok) throw await errorOf(response);
      return adopt((await response.json()) as BrowserSession);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function signOut(): Promise<void> {
  try {
    await fetch(`${API}/auth/session`, {
      method: "DELETE",
      headers: { "x-pap-session": "1" },
      credentials: "same-origin",
    });
  } finally {
    adopt(null);
  }
}

export function bearer(): Record<string, string> {
  return accessToken ? { authorization: `Bearer ${accessToken}` } : {};
}

/** fetch with the access token; on a 401 it refreshes once and retries. Throws ApiError when not ok. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const send = () =>
    fetch(path.startsWith("/") ? path : `${API}/${path}`, {
      ...init,
      headers: { ...(init.headers as Record<string, string> | undefined), ...bearer() },
    });
  let response = await send();
  if (response.status === 401 && (await refreshSession())) response = await send();
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await apiFetch(path, init);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export function json(method: string, body: unknown): RequestInit {
  return { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

/** Uploads with progress (fetch cannot report upload progress); refreshes the token first if needed. */
export async function upload<T>(
  path: string,
  body: Blob,
  contentType: string,
  onProgress: (fraction: number) => void,
): Promise<T> {
  if (!accessToken) await refreshSession();
  const attempt = () =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", `${API}/${path}`);
      request.setRequestHeader("content-type", contentType);
      if (accessToken) request.setRequestHeader("authorization", `Bearer ${accessToken}`);
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      request.onload = () => resolve({ status: request.status, text: request.responseText });
      request.onerror = () => reject(new ApiError(0, "the upload failed: no connection to the server"));
      request.send(body);
    });
  let result = await attempt();
  if (result.status === 401 && (await refreshSession())) result = await attempt();
  if (result.status < 200 || result.status >= 300) {
    let message = `upload failed (${result.status})`;
    try {
      const parsed = JSON.parse(result.text) as { detail?: unknown };
      if (typeof parsed.detail === "string") message = parsed.detail;
    } catch {
      // keep the status
    }
    throw new ApiError(result.status, message);
  }
  return JSON.parse(result.text) as T;
}

/** Saves a response (a CSV export) as a file. */
export async function download(path: string, filename: string): Promise<void> {
  const blob = await (await apiFetch(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
