import { errorResponse } from "../respond";

export const dynamic = "force-dynamic";

/**
 * Any path under /api that no route claims (a typo, `/api/images/../x` once the client has
 * resolved the dots), for every method: the API's JSON 404 instead of the site's HTML not-found page.
 * Next.js matches every more specific route first, so this answers only what nothing else does.
 */
function unknownEndpoint(request: Request): Response {
  const { pathname } = new URL(request.url);
  return errorResponse("not_found", `there is no API endpoint at ${pathname}; docs/web-api.md lists the endpoints`, 404);
}

export { unknownEndpoint as DELETE, unknownEndpoint as GET, unknownEndpoint as HEAD, unknownEndpoint as OPTIONS, unknownEndpoint as PATCH, unknownEndpoint as POST, unknownEndpoint as PUT };
