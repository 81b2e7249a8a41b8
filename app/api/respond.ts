/**
 * What every route handler shares: errors as JSON `{ error: { code, message } }` with the right
 * status (never a stack trace): 4xx with the specific message for what the request got wrong, 500
 * with a safe message for the server's own faults (their details only in the server log); and
 * request bodies read with a byte cap before they are parsed.
 */
import { formatBytes } from "@/lib/format";
import { isServerFault, RunError, toRunError } from "@/lib/runs/index";

/** JSON bodies are small (a run request, a comparison of four captions); anything larger is a mistake. */
export const MAX_JSON_BYTES = 64 * 1024;

export function errorResponse(code: string, message: string, status: number, headers: HeadersInit = {}): Response {
  return Response.json({ error: { code, message } }, { status, headers });
}

function toResponse(thrown: unknown): Response {
  const error = toRunError(thrown);
  if (isServerFault(error)) {
    // The server's own fault: the details (paths, values, library messages) go to the server's
    // log, once; the client gets the kind of fault and is pointed at that log.
    console.error(`penumbra: ${error.message}:`, error.cause ?? error);
    const message = error.code === "internal" ? "the server failed to handle this request; its log has the details" : error.message;
    return errorResponse(error.code, message, error.status);
  }
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  return errorResponse(error.code, error.message, error.status, headers);
}

/** Runs a handler and turns anything it throws into a JSON error response. */
export async function respond(handler: () => Promise<Response> | Response): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    return toResponse(error);
  }
}

/** The request body as bytes, refusing (413) more than `limit` before reading it all. */
export async function readBody(request: Request, limit: number, what: string): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () => new RunError("payload_too_large", `the ${what} is larger than ${formatBytes(limit)}; send at most ${formatBytes(limit)}`);
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  if (!request.body) return new Uint8Array(new ArrayBuffer(0));
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(new ArrayBuffer(total));
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

const JSON_TYPE = "application/json";
const UTF8_BOM = [0xef, 0xbb, 0xbf];

/**
 * Whether a Content-Type names a JSON body as this API reads it: the media type application/json
 * (in any case) with at most a charset parameter of utf-8. JSON is UTF-8 (RFC 8259); a body declared
 * in another charset, or as a look-alike type (application/jsonp), would be read as something its
 * sender did not mean.
 */
function isJsonType(contentType: string): boolean {
  const [type, ...parameters] = contentType.split(";").map((part) => part.trim().toLowerCase());
  if (type !== JSON_TYPE) return false;
  return parameters.every((parameter) => /^charset=(utf-8|"utf-8")$/.test(parameter));
}

/** A JSON request body, or a 415 or 400 that says what is wrong with it and what is accepted. */
export async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!isJsonType(type)) {
    const got = type === "" ? "no Content-Type" : `Content-Type ${JSON.stringify(type)}`;
    throw new RunError("unsupported_media_type", `send the body as ${JSON_TYPE} (optionally with charset=utf-8, no other parameter); got ${got}`);
  }
  const bytes = await readBody(request, MAX_JSON_BYTES, "request body");
  // RFC 8259 says senders must not add a byte order mark; one is refused, not skipped, so a sender that adds it finds out.
  if (UTF8_BOM.every((byte, i) => bytes[i] === byte)) throw new RunError("invalid_input", "the body starts with a byte order mark (EF BB BF); send the JSON without it");
  let text: string;
  try {
    // fatal: invalid bytes are refused instead of being stored as U+FFFD.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new RunError("invalid_input", "the body is not valid UTF-8; send the JSON encoded as UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RunError("invalid_input", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Next.js passes dynamic segments as a promise. */
export type Params<K extends string> = { params: Promise<Record<K, string>> };

/** Every method Next.js hands to a route module (its HTTP_METHODS); it answers any other itself. */
export const ROUTE_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];
type Handler<Context> = (request: Request, context: Context) => Promise<Response> | Response;

/**
 * A route module's exports for every method Next.js routes: the given handlers, HEAD answered by GET,
 * OPTIONS answered 204, and every other method 405 method_not_allowed in the API's error shape, all
 * with an Allow header listing what the route implements. Next.js's own answer to a method a module
 * does not export is a bare 405 with no body and no Allow, and its OPTIONS would list every method
 * exported here, so each route exports all of them: `export const { GET, HEAD, OPTIONS, POST, PUT,
 * DELETE, PATCH } = apiRoute({ GET: ... })`.
 */
export function apiRoute<Context>(handlers: Partial<Record<Exclude<RouteMethod, "HEAD" | "OPTIONS">, Handler<Context>>>): Record<RouteMethod, Handler<Context>> {
  const implemented = Object.keys(handlers) as RouteMethod[];
  const allow = [...implemented, ...(handlers.GET ? ["HEAD" as const] : []), "OPTIONS" as const].sort().join(", ");
  const methodNotAllowed = (request: Request) =>
    errorResponse("method_not_allowed", `${request.method} is not allowed on ${new URL(request.url).pathname}; allowed: ${allow}`, 405, { Allow: allow });
  const route = Object.fromEntries(ROUTE_METHODS.map((method) => [method, handlers[method as keyof typeof handlers] ?? methodNotAllowed])) as Record<RouteMethod, Handler<Context>>;
  if (handlers.GET) route.HEAD = handlers.GET;
  route.OPTIONS = () => new Response(null, { status: 204, headers: { Allow: allow } });
  return route;
}
