import { getRunService, type RunEvent } from "@/lib/runs/index";
import { CLIENT_HEADER } from "@/lib/server/client-address";
import { StreamSlots } from "@/lib/server/stream-slots";
import { apiRoute, errorResponse, type Params, respond } from "../../../respond";

export const dynamic = "force-dynamic";

/** Proxies and browsers drop a silent connection; a comment line now and then keeps it open. */
const HEARTBEAT_MS = 15_000;
/** Open streams in this process, per run and per client (the front server names the client). */
const slots = new StreamSlots();
/** When a refused watcher should try again: about when another stream may have ended. */
const STREAM_RETRY_SECONDS = 5;

function isFinal(event: RunEvent): boolean {
  if (event.type === "status") return event.data.status !== "queued" && event.data.status !== "running";
  // A cancelled run's snapshot is followed by its requeue, so only done and failed end the stream here.
  return event.type === "snapshot" && (event.data.status === "done" || event.data.status === "failed");
}

/** Server-sent events: a snapshot of the run, then progress, cells and status changes until it ends. */
function streamEvents(request: Request, { params }: Params<"id">) {
  return respond(async () => {
    const { id } = await params;
    const service = await getRunService();
    await service.getRun(id); // 404 before the stream starts
    const slot = slots.acquire(id, request.headers.get(CLIENT_HEADER));
    if (!("release" in slot)) {
      const what = slot.reason === "run" ? "this run already has" : "this client already has";
      return errorResponse("too_many_streams", `${what} ${slot.limit} open progress streams; close one or try again in ${STREAM_RETRY_SECONDS} s`, 429, { "Retry-After": String(STREAM_RETRY_SECONDS) });
    }
    const encoder = new TextEncoder();
    let cleanup = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        let open = true;
        const close = () => {
          if (!open) return;
          open = false;
          cleanup();
          controller.close();
        };
        const heartbeat = setInterval(() => controller.enqueue(encoder.encode(": keep-alive\n\n")), HEARTBEAT_MS);
        let unsubscribe = () => {};
        cleanup = () => {
          slot.release();
          clearInterval(heartbeat);
          unsubscribe();
          request.signal.removeEventListener("abort", close);
        };
        request.signal.addEventListener("abort", close);
        service
          .subscribe(id, (event) => {
            if (!open) return;
            controller.enqueue(encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`));
            if (isFinal(event)) queueMicrotask(close);
          })
          .then(
            (stop) => {
              unsubscribe = stop;
              if (!open) stop();
            },
            (error: unknown) => {
              // The store failed after the 404 check: end the stream; the browser reconnects for a fresh snapshot.
              console.error(`penumbra: watching run ${id} failed`, error);
              close();
            },
          );
      },
      cancel() {
        cleanup();
      },
    });
    return new Response(stream, {
      headers: {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
      },
    });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: streamEvents });
