import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Engine, OpenOptions, ProviderReports } from "../../engine/index";
import { type DecodeHooks, type DecodeJob, DecoderCore, type DecodeOutcome, type PlannedGrid } from "./core";
import { deserializeError, type HostMessage, type ThreadMessage } from "./protocol";

export { type CellProgress, type DecodeHooks, type DecodeJob, type DecodeOutcome, type PlannedGrid, PresetOpenError } from "./core";

/*
 * What a run's host (the web process in the embedded deployment, a worker process in the
 * distributed one) asks of the models. ThreadDecoder runs them in a worker thread, so the host's
 * event loop keeps serving, storing and streaming while a grid decodes; InProcessDecoder runs the
 * same core on the calling thread, for tests that inject an engine.
 */
export interface Decoder {
  plan(job: DecodeJob): Promise<PlannedGrid>;
  /** Decodes planned cells; `hooks.onCell` has seen every finished cell by the time this settles. */
  decode(jobId: string, indices: readonly number[], hooks?: DecodeHooks): Promise<DecodeOutcome>;
  release(jobId: string): void;
  providers(presetName: string): Promise<ProviderReports>;
  close(): Promise<void>;
}

export class InProcessDecoder implements Decoder {
  private readonly core: DecoderCore;

  constructor(openEngine: (presetName: string) => Promise<Engine>) {
    this.core = new DecoderCore(openEngine);
  }

  plan(job: DecodeJob): Promise<PlannedGrid> {
    return this.core.plan(job);
  }

  decode(jobId: string, indices: readonly number[], hooks: DecodeHooks = {}): Promise<DecodeOutcome> {
    return this.core.decode(jobId, indices, hooks);
  }

  release(jobId: string): void {
    this.core.release(jobId);
  }

  providers(presetName: string): Promise<ProviderReports> {
    return this.core.providers(presetName);
  }

  async close(): Promise<void> {}
}

/** How the decode thread opens sessions; functions (a logger) cannot cross into a thread. */
export type ThreadOpenOptions = Omit<OpenOptions, "log">;

interface Pending {
  readonly resolve: (message: ThreadMessage) => void;
  readonly reject: (error: Error) => void;
  readonly hooks?: DecodeHooks;
}

/**
 * The thread's entry: beside this module when it runs from source (the CLI, the worker process,
 * tests), else under the working directory, because Next.js bundles this module into its server
 * chunks and a path relative to the bundle points nowhere.
 */
function threadEntry(): string {
  const candidates = [path.join(path.dirname(fileURLToPath(import.meta.url)), "boot.mjs"), path.resolve("lib/runs/decoder/boot.mjs")];
  const entry = candidates.find((candidate) => existsSync(candidate));
  if (!entry) throw new Error(`the decode thread's entry is missing (looked for ${candidates.join(" and ")}); start Penumbra from its repository folder`);
  return entry;
}

/** How long close() waits for the thread's work in flight before ending it regardless. */
const CLOSE_TIMEOUT_MS = 30_000;

export class ThreadDecoder implements Decoder {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 1;
  private closed = false;

  constructor(private readonly open: ThreadOpenOptions = {}) {}

  async plan(job: DecodeJob): Promise<PlannedGrid> {
    const answer = await this.request({ type: "plan", requestId: this.nextRequestId++, job });
    if (answer.type !== "planned") throw new Error(`the decode thread answered a plan with ${answer.type}`);
    return answer.planned;
  }

  async decode(jobId: string, indices: readonly number[], hooks: DecodeHooks = {}): Promise<DecodeOutcome> {
    const requestId = this.nextRequestId++;
    const { signal } = hooks;
    const cancel = () => this.worker?.postMessage({ type: "cancel", requestId } satisfies HostMessage);
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      if (signal?.aborted) cancel();
      const answer = await this.request({ type: "decode", requestId, jobId, indices }, hooks);
      if (answer.type !== "decoded") throw new Error(`the decode thread answered a decode with ${answer.type}`);
      return { providers: answer.providers };
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  release(jobId: string): void {
    this.worker?.postMessage({ type: "release", jobId } satisfies HostMessage);
  }

  async providers(presetName: string): Promise<ProviderReports> {
    const answer = await this.request({ type: "providers", requestId: this.nextRequestId++, presetName });
    if (answer.type !== "providers") throw new Error(`the decode thread answered a providers request with ${answer.type}`);
    return answer.providers;
  }

  /** Lets the thread finish what it is doing (cancel decodes first), then ends it. */
  async close(): Promise<void> {
    if (this.closed) return;
    const worker = this.worker;
    if (worker) {
      const settled = this.request({ type: "close", requestId: this.nextRequestId++ }).catch(() => undefined);
      const timeout = new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
      await Promise.race([settled, timeout]);
    }
    this.closed = true;
    this.worker = null;
    await worker?.terminate();
    this.failAll(new Error("the decode thread was stopped"));
  }

  private request(message: HostMessage & { requestId: number }, hooks?: DecodeHooks): Promise<ThreadMessage> {
    const worker = this.thread();
    return new Promise((resolve, reject) => {
      // A request in flight keeps the process alive; an idle thread does not.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(message.requestId, { resolve, reject, hooks });
      worker.postMessage(message);
    });
  }

  /** The running thread, started on first use and again after one died. */
  private thread(): Worker {
    if (this.closed) throw new Error("the decoder is closed");
    if (this.worker) return this.worker;
    const worker = new Worker(threadEntry(), { workerData: { open: this.open } });
    worker.on("message", (message: ThreadMessage) => this.receive(message));
    worker.on("error", (error) => this.lost(worker, error));
    worker.on("exit", (code) => this.lost(worker, new Error(`the decode thread exited with code ${code}`)));
    // An idle thread must not keep a finished process alive (request() refs it while work is pending).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private receive(message: ThreadMessage): void {
    const pending = this.pending.get(message.requestId);
    if (!pending) return;
    if (message.type === "progress") pending.hooks?.onProgress?.(message.progress);
    else if (message.type === "cell") pending.hooks?.onCell?.(message.index, message.png);
    else {
      this.pending.delete(message.requestId);
      if (this.pending.size === 0) this.worker?.unref();
      if (message.type === "failed") pending.reject(deserializeError(message.error));
      else pending.resolve(message);
    }
  }

  /** A thread that crashed takes its requests with it; the next request starts a new one. */
  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.failAll(error);
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
