/*
 * The response headers every answer carries, and the Content-Security-Policy of pages. Pages get a
 * fresh nonce per request (proxy.ts): Next.js streams its hydration data as inline scripts and
 * marks them with the nonce it finds in the request's CSP, and the layout's one inline script (the
 * theme and view choices, applied before first paint) carries it too. No other inline script runs.
 */

/** On every response, images and API answers included. */
export const SECURITY_HEADERS: readonly { readonly key: string; readonly value: string }[] = [
  // A stored PNG or an upload is never sniffed into HTML or script.
  { key: "X-Content-Type-Options", value: "nosniff" },
  // No page is framed (older browsers; CSP's frame-ancestors says the same to newer ones).
  { key: "X-Frame-Options", value: "DENY" },
  // Permalinks are capabilities of a kind: other sites learn the origin, never the path.
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
  { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=()" },
];

/** The policy of a page rendered with `nonce`; development adds what React's dev tooling needs (eval). */
export function contentSecurityPolicy(nonce: string, development = false): string {
  return [
    "default-src 'self'",
    // 'strict-dynamic': scripts the nonce'd ones load (Next.js's chunks) run; nothing else does.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${development ? " 'unsafe-eval'" : ""}`,
    // React renders style attributes (cell aspect ratios, bar widths) into the HTML.
    "style-src 'self' 'unsafe-inline'",
    // Cells and uploads come from the API; a dropped image is previewed from a blob: URL.
    "img-src 'self' blob: data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
