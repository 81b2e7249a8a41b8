import { type NextRequest, NextResponse } from "next/server";
import { contentSecurityPolicy } from "./lib/security-headers";

/**
 * Gives every page request a fresh CSP nonce: in the request's headers for Next.js (which marks
 * its inline scripts with it) and the layout (`x-nonce`), and in the response's policy.
 */
export function proxy(request: NextRequest) {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  const policy = contentSecurityPolicy(nonce, process.env.NODE_ENV === "development");
  const headers = new Headers(request.headers);
  headers.set("x-nonce", nonce);
  headers.set("Content-Security-Policy", policy);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("Content-Security-Policy", policy);
  return response;
}

export const config = {
  // Pages only: API answers, stored images and build assets carry no script.
  matcher: [{ source: "/((?!api/|_next/static|_next/image|favicon.ico|icon.svg).*)" }],
};
