import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";

/*
 * Throwaway PostgreSQL and Redis servers for tests and scripts of the distributed deployment: each
 * in a fresh folder under the temp directory, on a free port, listening on 127.0.0.1 only, stopped
 * (and its folder removed) by `stop()` or, should the calling process die first, by a guard
 * process. No system service is touched. The binaries are Debian's.
 */

const POSTGRES_BIN = "/usr/lib/postgresql/15/bin";
const REDIS_SERVER = "/usr/bin/redis-server";
const INSTALL = "`bash scripts/ensure-system-deps.sh` (as root) installs PostgreSQL and Redis";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5000;

export interface TestServer {
  readonly url: string;
  /** Stops the server and removes its folder; calling it again does nothing. */
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
  if (!existsSync(file)) throw new Error(`${what} is missing (no ${file}); ${INSTALL}`);
}

interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

/** PostgreSQL refuses to run as root; then it runs as Debian's `postgres` user, which its package creates. */
function postgresUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    throw new Error(`PostgreSQL refuses to run as root and there is no \`postgres\` user to run it as; ${INSTALL} (the postgresql package creates the user)`);
  }
}

/*
 * Stops the server and removes its folder when the process that started it ends without calling
 * stop() (a crash, a test runner's SIGKILL): a detached shell reads a pipe that only this process
 * holds open. stop() writes a line to it and the guard stands down; the kernel closes the pipe
 * however this process ends, and at that end of input the guard stops the server.
 */
const GUARD_SCRIPT = `read -r _ && exit 0
kill -INT "$1" 2> /dev/null
tries=0
while kill -0 "$1" 2> /dev/null && [ "$tries" -lt 50 ]; do sleep 0.1; tries=$((tries + 1)); done
kill -KILL "$1" 2> /dev/null
rm -rf "$2"`;

interface Guard {
  standDown(): void;
}

function guard(pid: number, folder: string): Guard {
  const child = spawn("/bin/sh", ["-c", GUARD_SCRIPT, "penumbra-test-server-guard", String(pid), folder], { stdio: ["pipe", "ignore", "ignore"], detached: true });
  const pipe = child.stdin as unknown as Socket;
  // The guard must not keep this process alive; it only waits for it to end.
  child.unref();
  pipe.unref();
  // Writing after the guard is gone (killed from outside) must not crash the tests.
  pipe.on("error", () => {});
  return { standDown: () => pipe.end("stand down\n") };
}

interface Launched {
  readonly child: ChildProcess;
  /** Everything the server wrote so far, for a failed start's message. */
  readonly output: () => string;
}

function launch(file: string, args: readonly string[], what: string, folder: string, runAs: RunAs): Launched {
  const child = spawn(file, args, { cwd: folder, stdio: ["ignore", "pipe", "pipe"], ...runAs });
  let output = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    // A server someone forgot to stop must not keep this process alive; its guard stops it.
    (stream as unknown as Socket | null)?.unref();
  }
  child.once("error", (error) => (output += `${what} could not start: ${error.message}\n`));
  child.unref();
  return { child, output: () => output };
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Polls `ready` until it answers true, failing early (with the server's output) if the server ends. */
async function waitUntilReady(server: Launched, what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited(server.child)) throw new Error(`${what} exited before it was ready:\n${server.output()}`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} was not ready within ${START_TIMEOUT_MS / 1000} s:\n${server.output()}`);
}

/**
 * Whether the Redis on `port` is the one started in `folder`: between freePort() and the bind
 * another process may have taken the port, and a server that answers there need not be ours.
 */
function redisServes(port: number, folder: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = "";
    // QUIT makes Redis close the connection once it has answered both.
    const socket = createConnection({ host: "127.0.0.1", port }, () => socket.write("CONFIG GET dir\r\nQUIT\r\n"));
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
    socket.once("close", () => resolve(answer.includes(`\r\n${folder}\r\n`)));
    socket.once("error", () => {});
    // Something else on the port may never answer; destroying the socket closes it.
    socket.setTimeout(1000, () => socket.destroy());
  });
}

/** Whether the PostgreSQL at `url` answers queries (it listens before it has finished starting up) from the cluster in `data`. */
async function postgresServes(url: string, data: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ data: string }>("SELECT current_setting('data_directory') AS data");
    return rows[0].data === data;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const ended = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // SIGINT is PostgreSQL's fast shutdown; Redis shuts down on it too.
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await ended;
  clearTimeout(timer);
}

interface Listening {
  readonly args: readonly string[];
  readonly url: string;
  readonly ready: () => Promise<boolean>;
}

const BIND_ATTEMPTS = 3;

/**
 * Starts a server in `folder` on a free port and waits until it is ready. Another process may take
 * the port between freePort() and the server's bind, so a bind failure tries another port. On any
 * other failure the server is stopped and the folder removed.
 */
async function serve(what: string, file: string, folder: string, runAs: RunAs, listenOn: (port: number) => Listening): Promise<TestServer> {
  for (let attempt = 1; ; attempt++) {
    const { args, url, ready } = listenOn(await freePort());
    const server = launch(file, args, what, folder, runAs);
    const pid = server.child.pid;
    if (pid === undefined) {
      rmSync(folder, { recursive: true, force: true });
      throw new Error(`${what} could not start (${file})`);
    }
    const guardian = guard(pid, folder);
    try {
      await waitUntilReady(server, what, ready);
    } catch (error) {
      guardian.standDown();
      await stopProcess(server.child);
      if (attempt < BIND_ATTEMPTS && server.output().includes("Address already in use")) continue;
      rmSync(folder, { recursive: true, force: true });
      throw error;
    }
    let stopping: Promise<void> | undefined;
    const stop = () => {
      if (!stopping) {
        guardian.standDown();
        stopping = stopProcess(server.child).then(() => rmSync(folder, { recursive: true, force: true }));
      }
      return stopping;
    };
    return { url, stop };
  }
}

/**
 * A PostgreSQL 15 cluster with trust authentication (initdb grants it to local connections only:
 * the unix socket inside the folder and 127.0.0.1), fsync off for speed; the URL names its
 * `postgres` database as the `postgres` superuser.
 */
export async function startPostgres(): Promise<TestServer> {
  const initdb = path.join(POSTGRES_BIN, "initdb");
  const postgres = path.join(POSTGRES_BIN, "postgres");
  requireBinary(initdb, "PostgreSQL's initdb");
  requireBinary(postgres, "PostgreSQL's server");
  const runAs = postgresUser();
  const folder = realpathSync(mkdtempSync(path.join(tmpdir(), "penumbra-postgres-")));
  const data = path.join(folder, "data");
  try {
    if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(folder, runAs.uid, runAs.gid);
    execFileSync(initdb, ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], { cwd: folder, stdio: "pipe", ...runAs });
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  const settings = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"].flatMap((setting) => ["-c", setting]);
  return serve("PostgreSQL", postgres, folder, runAs, (port) => {
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return { args: ["-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", folder, ...settings], url, ready: () => postgresServes(url, data) };
  });
}

/** A Redis server on 127.0.0.1 that keeps nothing on disk. */
export async function startRedis(): Promise<TestServer> {
  requireBinary(REDIS_SERVER, "redis-server");
  // Resolved, as Redis reports its folder.
  const folder = realpathSync(mkdtempSync(path.join(tmpdir(), "penumbra-redis-")));
  return serve("Redis", REDIS_SERVER, folder, {}, (port) => ({
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
    url: `redis://127.0.0.1:${port}`,
    ready: () => redisServes(port, folder),
  }));
}
