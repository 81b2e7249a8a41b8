import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { freePort } from "../../lib/runs/test-servers";

export { freePort };

/* Starting and stopping Penumbra's own processes (a built web server, a decode worker) for scripts and tests on loopback. */

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const NEXT = path.join(ROOT, "node_modules", ".bin", "next");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const START_TIMEOUT_MS = 120_000;

/** `next build` of the app, unless the script was run with --skip-build (reuse the current .next). */
export function buildUnlessSkipped(argv: readonly string[] = process.argv): void {
  if (argv.includes("--skip-build")) return;
  const build = spawnSync(NEXT, ["build"], { cwd: ROOT, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  if (build.status !== 0) throw new Error(`next build failed (exit ${build.status})`);
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `url` until it answers 2xx, failing early if the process exits. */
export async function waitUntilServing(url: string, server: ChildProcess, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`the server exited (${server.exitCode ?? server.signalCode}) before serving ${url}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await delay(250);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

export interface Started {
  readonly process: ChildProcess;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  /** Everything the process wrote to stderr so far (for a failing test's message). */
  stderr(): string;
  /** SIGTERM to the process group (next start forks), resolving once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function started(child: ChildProcess): Started {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
      try {
        process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
      return exited;
    },
  };
}

/**
 * `npm start`'s server (bin/serve.ts) on the existing production build, with extra environment.
 * Its per-client rate limits and queue share are off unless `env` sets them: the callers
 * (benchmarks, browser tests) stand in for many users from one address.
 */
export function startWeb(port: number, env: Record<string, string>): Started {
  return started(
    spawn(TSX, [path.join(ROOT, "bin", "serve.ts"), "--hostname", "127.0.0.1", "--port", String(port)], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", PENUMBRA_READ_LIMIT: "off", PENUMBRA_WRITE_LIMIT: "off", PENUMBRA_CLIENT_SHARE: "1", ...env },
    }),
  );
}

/** `npm run worker`'s command, with extra environment. */
export function startWorkerProcess(env: Record<string, string>): Started {
  return started(
    spawn(TSX, [path.join(ROOT, "bin", "worker.ts")], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    }),
  );
}

export interface StreamEvent {
  readonly type: string;
  readonly data: unknown;
  /** performance.now() when it arrived. */
  readonly at: number;
}

/**
 * Reads a run's server-sent events, calling `onEvent` with each until it returns true or the
 * stream ends; a stream cut by a server that died ends the reading quietly (the caller reconnects).
 */
export async function readRunEvents(baseURL: string, id: string, onEvent: (event: StreamEvent) => boolean | void): Promise<void> {
  const controller = new AbortController();
  try {
    const response = await fetch(`${baseURL}/api/runs/${id}/events`, { signal: controller.signal });
    const reader = response.body?.getReader();
    if (!reader) throw new Error(`the event stream of run ${id} has no body (HTTP ${response.status})`);
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!type || data === undefined) continue;
        if (onEvent({ type, data: JSON.parse(data), at: performance.now() })) {
          controller.abort();
          return;
        }
      }
    }
  } catch (error) {
    if (controller.signal.aborted || error instanceof TypeError) return;
    throw error;
  }
}
