import { existsSync, realpathSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStore } from "./files";
import { PostgresBlobStore } from "./postgres-blobs";
import { migratePostgres, openPool, POSTGRES_MIGRATIONS, PostgresRunStore } from "./postgres-store";
import { SqliteRunStore } from "./sqlite-store";
import { storageContract } from "./storage.contract";
import { startPostgres, startRedis, type TestServer } from "./test-servers";

/*
 * The storage contract against both deployments' stores: SQLite and files in a temporary folder,
 * and PostgreSQL on a real server started here, a fresh database for every test.
 */

let postgres: TestServer;
let scratch: string;
let databases = 0;

beforeAll(async () => {
  [postgres, scratch] = await Promise.all([startPostgres(), mkdtemp(path.join(tmpdir(), "penumbra-storage-"))]);
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A new, empty database on the test server; the server's removal drops it. */
async function freshDatabase(): Promise<string> {
  const name = `penumbra_${++databases}`;
  const admin = new pg.Client(postgres.url);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return postgres.url.replace(/\/postgres$/, `/${name}`);
}

describe("the embedded stores (SQLite and files)", () => {
  storageContract(async () => {
    const dataDir = await mkdtemp(path.join(scratch, "data-"));
    return { store: SqliteRunStore.open(dataDir), blobs: new FileStore(path.join(dataDir, "files")), openAnother: async () => SqliteRunStore.open(dataDir) };
  });
});

describe("the distributed stores (PostgreSQL)", () => {
  storageContract(async () => {
    const url = await freshDatabase();
    return { store: await PostgresRunStore.connect(url), blobs: await PostgresBlobStore.connect(url), openAnother: () => PostgresRunStore.connect(url) };
  });
});

describe("PostgreSQL migrations", () => {
  it("run once when several processes connect at the same time", async () => {
    const url = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresRunStore.connect(url)));
    try {
      const { rows } = await stores[0].pool.query("SELECT version FROM penumbra_schema");
      expect(rows).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
      const tables = await stores[0].pool.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
      expect(tables.rows.map((row) => row.tablename)).toEqual(["blobs", "cells", "comparisons", "links", "penumbra_schema", "runs", "uploads"]);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it("roll a failing step back whole, version included, apply only unseen steps, and refuse a newer schema", async () => {
    const url = await freshDatabase();
    const pool = openPool(url);
    try {
      expect(await migratePostgres(pool)).toBe(POSTGRES_MIGRATIONS.length);
      await expect(migratePostgres(pool, [...POSTGRES_MIGRATIONS, "CREATE TABLE extra (a int); CREATE TABLE extra (b int);"])).rejects.toThrow(/already exists/);
      expect((await pool.query("SELECT version FROM penumbra_schema")).rows).toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
      expect((await pool.query("SELECT to_regclass('extra') AS extra")).rows).toEqual([{ extra: null }]);

      expect(await migratePostgres(pool, [...POSTGRES_MIGRATIONS, "CREATE TABLE extra (a int)"])).toBe(POSTGRES_MIGRATIONS.length + 1);
      await expect(PostgresRunStore.connect(url)).rejects.toThrow(/newer than this code knows/);
      // The refused migration let its lock go: migrating again does not wait for it.
      expect(await migratePostgres(pool, [...POSTGRES_MIGRATIONS, "CREATE TABLE extra (a int)"])).toBe(POSTGRES_MIGRATIONS.length + 1);
    } finally {
      await pool.end();
    }
  });
});

describe("the PostgreSQL links step", () => {
  it("gives every run made before links a link of its id, moving publishing and unpublish keys to it", async () => {
    const url = await freshDatabase();
    const pool = openPool(url);
    try {
      const beforeLinks = POSTGRES_MIGRATIONS.findIndex((step) => step.includes("CREATE TABLE links"));
      await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, beforeLinks));
      const insert = `INSERT INTO runs (id, preset_name, preset_digest, request, status, created_at, published_at, unpublish_key_hash, search_text, rows, cols, image_width, image_height, watched_at)
                      VALUES ($1, 'shapes', 'd', $2, 'done', $3, $4, $5, $6, 1, 1, 64, 64, 0)`;
      await pool.query(insert, ["aaaaaaaaaaaa", '{"input":{"kind":"caption","text":"a red shape"}}', 1000, 2000, "hash of the key", "a red shape"]);
      await pool.query(insert, ["bbbbbbbbbbbb", `{"input":{"kind":"image","upload":"${"e".repeat(64)}"}}`, 1500, null, null, null]);
      await pool.query("INSERT INTO comparisons (id, run_ids, created_at) VALUES ('cccccccccccc', $1, 3000)", [JSON.stringify(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])]);
    } finally {
      await pool.end();
    }
    const store = await PostgresRunStore.connect(url);
    try {
      expect(await store.getLink("aaaaaaaaaaaa")).toEqual({ id: "aaaaaaaaaaaa", runId: "aaaaaaaaaaaa", creatorKeyHash: "hash of the key", createdAt: 1000, publishedAt: 2000 });
      expect(await store.getLink("bbbbbbbbbbbb")).toEqual({ id: "bbbbbbbbbbbb", runId: "bbbbbbbbbbbb", creatorKeyHash: null, createdAt: 1500, publishedAt: null });
      expect(await store.gallery("red", 10, 0)).toEqual({ total: 1, links: [await store.getLink("aaaaaaaaaaaa")] });
      expect(await store.getComparison("cccccccccccc")).toEqual({ id: "cccccccccccc", linkIds: ["aaaaaaaaaaaa", "bbbbbbbbbbbb"], createdAt: 3000 });
      expect((await store.pool.query("SELECT id, input_upload FROM runs ORDER BY id")).rows).toEqual([
        { id: "aaaaaaaaaaaa", input_upload: null },
        { id: "bbbbbbbbbbbb", input_upload: "e".repeat(64) },
      ]);
    } finally {
      await store.close();
    }
  });
});

describe("a PostgreSQL pool shared by the run store and the blob store", () => {
  it("stays open until the store that owns it closes", async () => {
    const url = await freshDatabase();
    const store = await PostgresRunStore.connect(url);
    const blobs = await PostgresBlobStore.connect(url, store.pool);
    const { sha256 } = await blobs.put(new Uint8Array([1]));
    await blobs.close();
    expect(await store.getRun("000000000000")).toBeUndefined();
    expect(store.pool.ended).toBe(false);
    await store.close();
    expect(store.pool.ended).toBe(true);
    const reopened = await PostgresBlobStore.connect(url);
    expect(await reopened.has(sha256)).toBe(true);
    await reopened.close();
  });
});

/** Sends Redis commands over a plain socket and gives everything it answered until QUIT closed the connection. */
function redisConversation(port: number, commands: readonly (readonly string[])[]): Promise<string> {
  const encode = (args: readonly string[]) => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    let answer = "";
    const socket = createConnection({ host: "127.0.0.1", port }, () => socket.write([...commands, ["QUIT"]].map(encode).join("")));
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("utf8")));
    socket.once("end", () => resolve(answer));
    socket.once("error", reject);
  });
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port }, () => {
      socket.end();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

describe("the throwaway test servers", () => {
  it("start Redis on loopback in a temporary folder, answering PING, and stop it without a trace", async () => {
    const redis = await startRedis();
    const port = Number(new URL(redis.url).port);
    const answer = await redisConversation(port, [["PING"], ["CONFIG", "GET", "dir"], ["CONFIG", "GET", "bind"]]);
    const match = /^\+PONG\r\n\*2\r\n\$3\r\ndir\r\n\$\d+\r\n([^\r]+)\r\n\*2\r\n\$4\r\nbind\r\n\$\d+\r\n([^\r]+)\r\n\+OK\r\n$/.exec(answer);
    expect(match, answer).not.toBeNull();
    const [, dir, bind] = match as RegExpExecArray;
    expect(bind).toBe("127.0.0.1");
    expect(path.dirname(dir)).toBe(realpathSync(tmpdir()));
    expect(existsSync(dir)).toBe(true);
    await redis.stop();
    expect(existsSync(dir)).toBe(false);
    expect(await refusesConnections(port)).toBe(true);
    await redis.stop();
  });

  it("start PostgreSQL on loopback in a temporary folder, answering queries, and stop it without a trace", async () => {
    const server = await startPostgres();
    const client = new pg.Client(server.url);
    await client.connect();
    const setting = async (name: string) => (await client.query(`SELECT current_setting('${name}') AS value`)).rows[0].value as string;
    const settings = { listen: await setting("listen_addresses"), fsync: await setting("fsync"), data: await setting("data_directory"), socket: await setting("unix_socket_directories") };
    expect((await client.query("SELECT 6 * 7 AS answer")).rows).toEqual([{ answer: 42 }]);
    await client.end();
    const folder = path.dirname(settings.data);
    expect(settings).toEqual({ listen: "127.0.0.1", fsync: "off", data: path.join(folder, "data"), socket: folder });
    expect(path.dirname(folder)).toBe(realpathSync(tmpdir()));
    await server.stop();
    expect(existsSync(folder)).toBe(false);
    expect(await refusesConnections(Number(new URL(server.url).port))).toBe(true);
  });
});
