/** Crawlers and older browsers ask for /favicon.ico whatever a page links; the app's icon is app/icon.svg. */
export function GET(request: Request) {
  return Response.redirect(new URL("/icon.svg", request.url), 308);
}
