import { parentPort, workerData } from "node:worker_threads";
import { type OpenOptions, openPreset } from "../../engine/index";
import { DecoderCore } from "./core";
import { type HostMessage, serializeError, type ThreadMessage } from "./protocol";

/*
 * The decode thread: owns the engines (every ONNX session) and answers its host's messages.
 * onnxruntime-node's run blocks the thread it is called on, so it is called here, never on the
 * thread that serves requests. Between UNet steps the engine awaits, which lets a cancel through.
 */

if (!parentPort) throw new Error("lib/runs/decoder/thread.ts runs only as a worker thread");
const port = parentPort;
/** How the host wants sessions opened (execution providers, threads); the engine's defaults otherwise. */
const { open = {} } = (workerData ?? {}) as { open?: OpenOptions };
const core = new DecoderCore((name) => openPreset(name, open));
const cancels = new Map<number, AbortController>();
/** Requests being answered; closing waits for them, as ending the thread under native work can abort the process. */
const inflight = new Set<Promise<void>>();

function send(message: ThreadMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function answer(message: HostMessage): Promise<void> {
  switch (message.type) {
    case "plan":
      send({ type: "planned", requestId: message.requestId, planned: await core.plan(message.job) });
      return;
    case "providers":
      send({ type: "providers", requestId: message.requestId, providers: await core.providers(message.presetName) });
      return;
    case "decode": {
      const { requestId } = message;
      const controller = new AbortController();
      cancels.set(requestId, controller);
      try {
        const outcome = await core.decode(message.jobId, message.indices, {
          signal: controller.signal,
          onProgress: (progress) => send({ type: "progress", requestId, progress }),
          onCell: (index, png) => {
            // A copy the thread can hand over whole: sharp's buffers may share a pooled allocation.
            const bytes = new Uint8Array(png);
            send({ type: "cell", requestId, index, png: bytes }, [bytes.buffer as ArrayBuffer]);
          },
        });
        send({ type: "decoded", requestId, providers: outcome.providers });
      } finally {
        cancels.delete(requestId);
      }
      return;
    }
    case "cancel":
      cancels.get(message.requestId)?.abort();
      return;
    case "release":
      core.release(message.jobId);
      return;
    case "close":
      await Promise.allSettled([...inflight]);
      send({ type: "closed", requestId: message.requestId });
      return;
  }
}

port.on("message", (message: HostMessage) => {
  const answering = answer(message).catch((error: unknown) => {
    if ("requestId" in message) send({ type: "failed", requestId: message.requestId, error: serializeError(error) });
  });
  if (message.type === "close") return;
  inflight.add(answering);
  void answering.finally(() => inflight.delete(answering));
});
