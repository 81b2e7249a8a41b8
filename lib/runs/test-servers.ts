import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/*
 * Throwaway PostgreSQL and Redis servers for tests of the distributed deployment: each in a fresh
 * folder under the temp directory, on a free loopback port, stopped (and its folder removed) by
 * `stop()` or when the test process exits. No system service is touched. The binaries are
 * Debian's (`bash scripts/ensure-system-deps.sh` installs them).
 */

const POSTGRES_BIN = "/usr/lib/postgresql/15/bin";
const REDIS_SERVER = "/usr/bin/redis-server";
const INSTALL = "install them with `bash scripts/ensure-system-deps.sh` (as root)";
const START_TIMEOUT_MS = 30_000;

export interface TestServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** A port nothing listens on at the moment, on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port"))));
    });
  });
}

function requireBinary(file: string, what: string): void {
  if (!existsSync(file)) throw new Error(`${what} is missing (${file}); ${INSTALL}`);
}

/** PostgreSQL refuses to run as root: then its commands run as Debian's `postgres` user. */
function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
  return { uid: id("-u"), gid: id("-g") };
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Waits until something accepts TCP connections on the port, or the process dies. */
async function waitForPort(port: number, child: ChildProcess, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited before it listened:\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not listen on port ${port} within ${START_TIMEOUT_MS / 1000} s:\n${output()}`);
}

function launch(file: string, args: readonly string[], what: string, user: { uid?: number; gid?: number } = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], ...user });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.once("error", (error) => (output += `${what} could not start: ${error.message}`));
  running.add(child);
  child.once("exit", () => running.delete(child));
  return { child, output: () => output };
}

function stopper(child: ChildProcess, folder: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      // SIGINT is PostgreSQL's fast shutdown; Redis exits on it too.
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(folder, { recursive: true, force: true });
  };
}

/** A PostgreSQL 15 cluster with trust authentication on loopback; the URL names its `postgres` database. */
export async function startPostgres(): Promise<TestServer> {
  requireBinary(path.join(POSTGRES_BIN, "initdb"), "PostgreSQL's initdb");
  const folder = mkdtempSync(path.join(tmpdir(), "penumbra-postgres-"));
  const data = path.join(folder, "data");
  const user = postgresUser();
  if (user.uid !== undefined) chownSync(folder, user.uid, user.gid);
  execFileSync(path.join(POSTGRES_BIN, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], { stdio: "pipe", cwd: folder, ...user });
  const port = await freePort();
  const { child, output } = launch(
    path.join(POSTGRES_BIN, "postgres"),
    ["-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", folder, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
    "PostgreSQL",
    user,
  );
  await waitForPort(port, child, "PostgreSQL", output);
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop: stopper(child, folder) };
}

/** A Redis server on loopback that keeps nothing on disk. */
export async function startRedis(): Promise<TestServer> {
  requireBinary(REDIS_SERVER, "redis-server");
  const folder = mkdtempSync(path.join(tmpdir(), "penumbra-redis-"));
  const port = await freePort();
  const { child, output } = launch(REDIS_SERVER, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder], "Redis");
  await waitForPort(port, child, "Redis", output);
  return { url: `redis://127.0.0.1:${port}`, stop: stopper(child, folder) };
}
