import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS, migrate, SqliteRunStore } from "./sqlite-store";

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "penumbra-store-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const newRun = (id: string) => ({ id, presetName: "shapes", presetDigest: "d", request: "{}", createdAt: 1000, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: null });

describe("migrations", () => {
  it("build a fresh database in WAL mode with foreign keys on, at the latest version", async () => {
    const store = SqliteRunStore.open(dataDir);
    expect(store.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(["cells", "comparisons", "runs", "uploads"]);
    await store.close();
  });

  it("leave an existing database's data alone and apply only the steps it has not seen", async () => {
    const first = SqliteRunStore.open(dataDir);
    await first.admit([{ id: "aaaaaaaaaaaa", insert: newRun("aaaaaaaaaaaa") }], { maxRuns: 8 }, 1000);
    await first.close();
    const again = SqliteRunStore.open(dataDir);
    expect((await again.getRun("aaaaaaaaaaaa"))?.status).toBe("queued");
    expect(migrate(again.db, [...MIGRATIONS, "ALTER TABLE runs ADD COLUMN note TEXT"])).toBe(MIGRATIONS.length + 1);
    expect(again.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length + 1);
    expect(again.db.prepare("SELECT note FROM runs").pluck().get()).toBeNull();
    await again.close();
  });

  it("roll a failing step back whole, version included", () => {
    const db = new Database(path.join(dataDir, "x.db"));
    expect(() => migrate(db, ["CREATE TABLE a (x); CREATE TABLE a (y);"])).toThrow(/already exists/);
    expect(db.pragma("user_version", { simple: true })).toBe(0);
    expect(db.prepare("SELECT count(*) FROM sqlite_master").pluck().get()).toBe(0);
    db.close();
  });

  it("refuse a database from newer code", () => {
    const db = new Database(path.join(dataDir, "penumbra.db"));
    db.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    db.close();
    expect(() => SqliteRunStore.open(dataDir)).toThrow(/newer than this code knows/);
  });

  it("give runs stored before the idle-cancel lease their creation time as the lease", async () => {
    const db = new Database(path.join(dataDir, "penumbra.db"));
    migrate(db, MIGRATIONS.slice(0, 1));
    db.prepare(
      "INSERT INTO runs (id, preset_name, preset_digest, request, status, created_at, rows, cols, image_width, image_height) VALUES ('bbbbbbbbbbbb', 'shapes', 'd', '{}', 'queued', 1234, 2, 2, 64, 64)",
    ).run();
    db.close();
    const store = SqliteRunStore.open(dataDir);
    expect(await store.watchedAt("bbbbbbbbbbbb")).toBe(1234);
    await store.close();
  });
});

/*
 * A process that opens the store in DATA_DIR, says "ready", and on a line from its parent admits
 * RUNS new runs (ids starting with PREFIX) one by one against LIMIT, then prints how many it admitted.
 */
const ADMITTING_PROCESS = `
import { createInterface } from "node:readline";
import { SqliteRunStore } from ${JSON.stringify(fileURLToPath(new URL("./sqlite-store.ts", import.meta.url)))};
const { DATA_DIR, PREFIX, RUNS, LIMIT } = process.env;
const store = SqliteRunStore.open(DATA_DIR);
console.log("ready");
await createInterface({ input: process.stdin })[Symbol.asyncIterator]().next();
let admitted = 0;
for (let i = 0; i < Number(RUNS); i++) {
  const id = PREFIX + String(i).padStart(12 - PREFIX.length, "0");
  const run = { id, presetName: "shapes", presetDigest: "d", request: "{}", createdAt: i, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: null };
  if ((await store.admit([{ id, insert: run }], { maxRuns: Number(LIMIT) }, i)).admitted) admitted++;
}
await store.close();
console.log(admitted);
`;

function startAdmitting(dataDir: string, prefix: string, runs: number, limit: number): { child: ChildProcess; ready: Promise<void>; admitted: Promise<number> } {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "--eval", ADMITTING_PROCESS], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    env: { ...process.env, DATA_DIR: dataDir, PREFIX: prefix, RUNS: String(runs), LIMIT: String(limit) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (stdout.startsWith("ready\n")) resolve();
    });
    child.once("exit", () => reject(new Error(`the admitting process ended before it was ready:\n${stderr}`)));
  });
  const admitted = new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => (code === 0 ? resolve(Number(stdout.slice("ready\n".length))) : reject(new Error(`the admitting process failed (${code}):\n${stderr}`))));
  });
  return { child, ready, admitted };
}

describe("admission", () => {
  it("holds the queue limit when two processes open one new file and admit into it at the same time", async () => {
    const processes = [startAdmitting(dataDir, "a", 150, 200), startAdmitting(dataDir, "b", 150, 200)];
    await Promise.all(processes.map((admitting) => admitting.ready));
    // Both start admitting at once, so their transactions interleave.
    for (const { child } of processes) child.stdin?.end("go\n");
    const admitted = await Promise.all(processes.map((admitting) => admitting.admitted));
    expect(admitted[0] + admitted[1]).toBe(200);
    const store = SqliteRunStore.open(dataDir);
    expect((await store.queueState()).queued).toBe(200);
    await store.close();
  });
});
