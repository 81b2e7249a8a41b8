import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { CLIENT_HEADER, clientAddress } from "./client-address";
import { type BucketRule, TokenBuckets } from "./rate-limit";

/*
 * The HTTP server in front of Next.js (bin/serve.ts): it names each request's client, spends that
 * client's tokens (reads and writes apart), and bounds how long a client may take to send its
 * headers and body, so one slow or greedy client cannot hold the server.
 */

export interface FrontOptions {
  /** null: every read, or every write, goes through unlimited. */
  readonly reads: BucketRule | null;
  readonly writes: BucketRule | null;
  /** The proxy's client address header, or null to use the socket's address. */
  readonly clientHeader: string | null;
  /** Most milliseconds to receive a request's headers. */
  readonly headersTimeoutMs: number;
  /** Most milliseconds to receive a whole request, body included (not the answer: a stream stays open). */
  readonly requestTimeoutMs: number;
  /** How long an idle kept-alive connection stays open. */
  readonly keepAliveTimeoutMs: number;
}

export const FRONT_DEFAULTS: FrontOptions = {
  // A run page of 9 × 8 cells loads about a hundred images and scripts at once.
  reads: { burst: 300, perSecond: 50 },
  // Runs, uploads, comparisons, publishing: a person makes a few a minute.
  writes: { burst: 30, perSecond: 0.5 },
  clientHeader: null,
  headersTimeoutMs: 10_000,
  // A 10 MiB upload at 200 KB/s takes about 50 s.
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
};

const READS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Methods Node hands to the server but its Request (so every route handler) cannot carry: Next.js alone answers them 500. */
const UNROUTABLE = new Set(["TRACE"]);
/** What the site's routes answer at all (each route's own Allow is narrower). */
const SERVED_METHODS = "GET, HEAD, OPTIONS, POST, DELETE";

type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export function createFrontServer(handle: Handler, options: FrontOptions = FRONT_DEFAULTS): Server {
  const reads = options.reads && new TokenBuckets(options.reads);
  const writes = options.writes && new TokenBuckets(options.writes);
  const server = createServer(
    {
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      // Node looks for overdue requests this often (30 s by default), so the timeouts hold to about a second.
      connectionsCheckingInterval: 1000,
    },
    (request, response) => {
      const client = clientAddress(request.headers, request.socket.remoteAddress, options.clientHeader);
      // Route handlers learn the client from here only: a value the client sent is dropped.
      request.headers[CLIENT_HEADER] = client;
      const path = request.url ?? "/";
      if (UNROUTABLE.has(request.method ?? "")) {
        response.setHeader("Allow", SERVED_METHODS);
        return respondJson(response, 405, "method_not_allowed", `${request.method} is not served here; allowed: ${SERVED_METHODS}`);
      }
      // Build assets are immutable and cached by browsers; they cost nothing worth limiting.
      if (!path.startsWith("/_next/static/")) {
        const write = !READS.has(request.method ?? "GET") && path.startsWith("/api/");
        const buckets = write ? writes : reads;
        const taken = buckets?.take(client);
        if (taken && !taken.allowed) return refuse(request, response, write ? "writes" : "reads", write ? options.writes! : options.reads!, taken.retryAfterSeconds);
      }
      void Promise.resolve(handle(request, response)).catch((error: unknown) => {
        // A client that went away (or was timed out) mid-request is no fault of the server's.
        if (request.destroyed) return;
        console.error("penumbra: the request handler failed:", error);
        if (!response.headersSent) respondJson(response, 500, "internal", "the server failed to handle this request; its log has the details");
        else response.destroy();
      });
    },
  );
  return server;
}

function refuse(request: IncomingMessage, response: ServerResponse, kind: "reads" | "writes", rule: BucketRule, retryAfterSeconds: number) {
  const wait = Math.max(1, Math.ceil(retryAfterSeconds));
  const answer = () => {
    response.setHeader("Retry-After", String(wait));
    respondJson(response, 429, "rate_limited", `too many ${kind} from this client: at most ${rule.burst} at once and ${rule.perSecond} a second; try again in ${wait} s`);
  };
  // Answering while a body still streams in resets the connection under the client, which then
  // sees a network error instead of the 429: read the rest and drop it first (the request timeout
  // still bounds how long that may take).
  if (request.complete) return answer();
  request.once("end", answer);
  request.resume();
}

function respondJson(response: ServerResponse, status: number, code: string, message: string) {
  response.statusCode = status;
  response.setHeader("Content-Type", "application/json");
  response.setHeader("X-Content-Type-Options", "nosniff");
  response.end(JSON.stringify({ error: { code, message } }));
}
