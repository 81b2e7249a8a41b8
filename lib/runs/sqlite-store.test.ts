import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
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
    await first.admit([{ id: "aaaaaaaaaaaa", insert: newRun("aaaaaaaaaaaa") }], 8, 1000);
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
