import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { toRunError } from "./errors";
import { MIGRATIONS, migrate, SqliteRunStore } from "./sqlite-store";
import { makeReadOnly, whyNoReadOnlyFolder } from "./testing";

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "penumbra-store-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const newRun = (id: string) => ({ id, presetName: "shapes", presetDigest: "d", request: "{}", createdAt: 1000, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: null, inputUpload: null });

describe("migrations", () => {
  it("build a fresh database in WAL mode with foreign keys on, at the latest version", async () => {
    const store = SqliteRunStore.open(dataDir);
    expect(store.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(["cells", "comparisons", "links", "runs", "uploads"]);
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

  it("give every run made before links a link of its id, moving publishing and unpublish keys to it", async () => {
    // A database as the last version before links left it: a published caption run, an unlisted image run, a comparison of both.
    const db = new Database(path.join(dataDir, "penumbra.db"));
    const beforeLinks = MIGRATIONS.findIndex((step) => step.includes("CREATE TABLE links"));
    migrate(db, MIGRATIONS.slice(0, beforeLinks));
    const insert = db.prepare(
      `INSERT INTO runs (id, preset_name, preset_digest, request, status, created_at, published_at, unpublish_key_hash, search_text, rows, cols, image_width, image_height, watched_at)
       VALUES (?, 'shapes', 'd', ?, 'done', ?, ?, ?, ?, 1, 1, 64, 64, 0)`,
    );
    insert.run("aaaaaaaaaaaa", '{"input":{"kind":"caption","text":"a red shape"}}', 1000, 2000, "hash of the key", "a red shape");
    insert.run("bbbbbbbbbbbb", `{"input":{"kind":"image","upload":"${"e".repeat(64)}"}}`, 1500, null, null, null);
    db.prepare("INSERT INTO comparisons (id, run_ids, created_at) VALUES ('cccccccccccc', '[\"aaaaaaaaaaaa\",\"bbbbbbbbbbbb\"]', 3000)").run();
    db.close();

    const store = SqliteRunStore.open(dataDir);
    expect(await store.getLink("aaaaaaaaaaaa")).toEqual({ id: "aaaaaaaaaaaa", runId: "aaaaaaaaaaaa", creatorKeyHash: "hash of the key", createdAt: 1000, publishedAt: 2000 });
    expect(await store.getLink("bbbbbbbbbbbb")).toEqual({ id: "bbbbbbbbbbbb", runId: "bbbbbbbbbbbb", creatorKeyHash: null, createdAt: 1500, publishedAt: null });
    expect(await store.gallery("red", 10, 0)).toEqual({ total: 1, links: [await store.getLink("aaaaaaaaaaaa")] });
    expect(await store.getComparison("cccccccccccc")).toEqual({ id: "cccccccccccc", linkIds: ["aaaaaaaaaaaa", "bbbbbbbbbbbb"], createdAt: 3000 });
    expect(store.db.prepare("SELECT id, input_upload FROM runs ORDER BY id").all()).toEqual([
      { id: "aaaaaaaaaaaa", input_upload: null },
      { id: "bbbbbbbbbbbb", input_upload: "e".repeat(64) },
    ]);
    const columns = store.db.prepare("SELECT name FROM pragma_table_info('runs')").pluck().all();
    expect(columns).not.toContain("published_at");
    expect(columns).not.toContain("unpublish_key_hash");
    await store.close();
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

describe("opening", () => {
  it("opens an up-to-date database while another connection holds the write lock", async () => {
    await (SqliteRunStore.open(dataDir)).close();
    const writer = new Database(path.join(dataDir, "penumbra.db"));
    writer.exec("BEGIN IMMEDIATE");
    try {
      const started = Date.now();
      const store = SqliteRunStore.open(dataDir);
      // Not the 5 s busy timeout (and then SQLITE_BUSY) that taking the lock to migrate would cost.
      expect(Date.now() - started).toBeLessThan(1000);
      await store.close();
    } finally {
      writer.exec("ROLLBACK");
      writer.close();
    }
  });
});

/** A data folder with one stored run, left as a clean close leaves it (no -wal or -shm file), or as a process that stopped without closing does. */
async function storedFolder(left: "closed" | "unclosed"): Promise<void> {
  const store = SqliteRunStore.open(dataDir);
  await store.admit([{ id: "cccccccccccc", insert: newRun("cccccccccccc") }], { maxRuns: 8 }, 1000);
  await store.close();
  if (left === "unclosed") {
    // A process that exits without closing keeps the WAL's files, as one killed would.
    const script = `const db = new (require("better-sqlite3"))(${JSON.stringify(path.join(dataDir, "penumbra.db"))}); db.prepare("SELECT count(*) FROM runs").get(); process.exit(0);`;
    execFileSync(process.execPath, ["-e", script], { cwd: fileURLToPath(new URL("../..", import.meta.url)) });
  }
  expect(existsSync(path.join(dataDir, "penumbra.db-shm"))).toBe(left === "unclosed");
}

describe.each(["closed", "unclosed"] as const)("a read-only data folder (database %s)", (left) => {
  const probe = whyNoReadOnlyFolder();

  it.skipIf(probe !== null)(`opens read-only: reads work, writes refuse with SQLITE_READONLY (503)${probe ? ` (skipped: ${probe})` : ""}`, async () => {
    await storedFolder(left);
    const made = makeReadOnly(dataDir);
    if (!("undo" in made)) throw new Error(made.skip);
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const store = SqliteRunStore.open(dataDir);
      expect(log).toHaveBeenCalledWith(expect.stringMatching(/is read-only: serving what it holds/));
      expect((await store.getRun("cccccccccccc"))?.status).toBe("queued");
      expect(await store.unfinishedRuns()).toEqual([{ id: "cccccccccccc", status: "queued" }]);
      const refused = await store.markQueued("cccccccccccc").catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: "SQLITE_READONLY" });
      expect(toRunError(refused)).toMatchObject({ code: "unavailable", status: 503 });
      await store.close();
    } finally {
      log.mockRestore();
      made.undo();
    }
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
  const run = { id, presetName: "shapes", presetDigest: "d", request: "{}", createdAt: i, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: null, inputUpload: null };
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
