import { NextResponse, type NextRequest } from "next/server";

import { DEFAULT_CSP, SECURITY_HEADERS, cspProblem, renderCsp } from "@/lib/csp";

// Read at run time (the image is built once and configured per stack).
const template = process.env.PAP_WEB_CSP || DEFAULT_CSP;
const problem = cspProblem(template);
// Development and tests only: one origin serves the pages and, proxied, the API. In the stack nginx sends
// /api/ to the backends and this is unset.
const apiOrigin = process.env.PAP_API_ORIGIN;

function nonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

function secured(response: NextResponse, csp: string | null): NextResponse {
  for (const [name, value] of SECURITY_HEADERS) response.headers.set(name, value);
  if (csp) response.headers.set("content-security-policy", csp);
  return response;
}

export function middleware(request: NextRequest): NextResponse {
  const { pathname, search } = request.nextUrl;
  if (apiOrigin && pathname.startsWith("/api/")) {
    return NextResponse.rewrite(new URL(pathname + search, apiOrigin));
  }
  if (problem) {
    return secured(
      new NextResponse(`PAP_WEB_CSP is refused: ${problem}.\n`, {
        status: 500,
        headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
      }),
      "default-src 'none'",
    );
  }
  const csp = renderCsp(template, nonce());
  if (pathname.startsWith("/_next/static/")) {
    return secured(NextResponse.next(), csp);
  }
  // Next.js reads the nonce from the request's CSP header and puts it on every script it renders.
  const headers = new Headers(request.headers);
  headers.set("content-security-policy", csp);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("cache-control", "no-store");
  return secured(response, csp);
}

export const config = {
  matcher: [{ source: "/((?!_next/image).*)" }],
};
