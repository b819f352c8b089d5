// The Content-Security-Policy of every page. Scripts run only with this response's nonce ('strict-dynamic'
// lets them load the code-split chunks); no inline script or style without it, no eval. Slide images are
// fetched with the access token and shown from blob: URLs. The stack passes its own template in
// PAP_WEB_CSP (the policy pack checks it); every {nonce} in it becomes a fresh nonce per response.

export const DEFAULT_CSP =
  "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'strict-dynamic'; " +
  "style-src 'self' 'nonce-{nonce}'; img-src 'self' blob:; font-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
  "manifest-src 'self'; worker-src 'self'";

/** Why a template is not strict enough, or null when it is. */
export function cspProblem(template: string): string | null {
  if (/'unsafe-(inline|eval|hashes)'|'wasm-unsafe-eval'/.test(template)) {
    return "it allows unsafe-inline, unsafe-eval or unsafe-hashes";
  }
  const scriptSrc = template
    .split(";")
    .map((directive) => directive.trim())
    .find((directive) => directive.startsWith("script-src "));
  if (!scriptSrc || !scriptSrc.includes("'nonce-{nonce}'")) {
    return "its script-src has no 'nonce-{nonce}'";
  }
  if (!/(^|;)\s*object-src 'none'/.test(template)) return "it has no object-src 'none'";
  if (!/(^|;)\s*frame-ancestors 'none'/.test(template)) return "it has no frame-ancestors 'none'";
  return null;
}

export function renderCsp(template: string, nonce: string): string {
  return template.replaceAll("{nonce}", nonce);
}

// The same headers the API sends (app/middleware/security_headers.py), on every response of the frontend.
export const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["strict-transport-security", "max-age=63072000; includeSubDomains"],
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["referrer-policy", "no-referrer"],
  [
    "permissions-policy",
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
  ],
  ["cross-origin-opener-policy", "same-origin"],
  ["cross-origin-resource-policy", "same-origin"],
  ["x-permitted-cross-domain-policies", "none"],
];
