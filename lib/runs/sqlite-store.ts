import { accessSync, constants, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { CellMetrics } from "../record";
import { type AdmissionRules, admissionVerdict, costCap, type AdmitResult, type Admission, type CellRow, type ComparisonRow, costAndClient, firstOfEach, type LinkRow, type QueueState, type RunRow, type RunStatus, type RunStore, type UploadRow } from "./storage";

/*
 * The embedded deployment's run store: one SQLite file per data folder, WAL so readers never wait
 * for the decode's writes, schema versions in PRAGMA user_version. better-sqlite3 is synchronous,
 * so each method finishes before it returns its promise; a transaction here is one JavaScript turn,
 * and BEGIN IMMEDIATE makes admission atomic against another process on the same file too.
 *
 * A read-only data folder (a read-only mount) opens read-only: every read works, every write
 * throws SQLITE_READONLY, which the service answers with 503 (errors.ts).
 */

/** Each step brings the schema from version i to i + 1; never edit a released step, append one. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     preset_name TEXT NOT NULL,
     preset_digest TEXT NOT NULL,
     request TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
     error TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     published_at INTEGER,
     search_text TEXT,
     description TEXT,
     providers TEXT,
     timings TEXT,
     rows INTEGER NOT NULL,
     cols INTEGER NOT NULL,
     image_width INTEGER NOT NULL,
     image_height INTEGER NOT NULL
   );
   -- The gallery lists published runs newest first and searches their captions; the search's
   -- LIKE '%…%' cannot seek, so it scans this small index (published runs only) instead of the table.
   CREATE INDEX runs_gallery ON runs (published_at DESC, search_text) WHERE published_at IS NOT NULL;
   CREATE INDEX runs_unfinished ON runs (created_at) WHERE status IN ('queued', 'running');
   CREATE TABLE cells (
     run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     idx INTEGER NOT NULL,
     metrics TEXT NOT NULL,
     image TEXT,
     PRIMARY KEY (run_id, idx)
   ) WITHOUT ROWID;
   CREATE TABLE uploads (
     sha256 TEXT PRIMARY KEY,
     type TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     width INTEGER NOT NULL,
     height INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE comparisons (
     id TEXT PRIMARY KEY,
     run_ids TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  // The idle-cancel lease (storage.ts): when someone last watched the run, or when it was admitted.
  `ALTER TABLE runs ADD COLUMN watched_at INTEGER;
   UPDATE runs SET watched_at = created_at;`,
  // Who may take a published run out of the gallery: the sha256 of the key its publisher was given.
  `ALTER TABLE runs ADD COLUMN unpublish_key_hash TEXT;`,
  // What a queued run costs to decode and who asked for it, for cost-based admission (storage.ts).
  `ALTER TABLE runs ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE runs ADD COLUMN client TEXT;`,
  // Who stored an upload, for the per-client upload quota (service.ts).
  `ALTER TABLE uploads ADD COLUMN client TEXT;
   CREATE INDEX uploads_by_client ON uploads (client, created_at);`,
  // Links (storage.ts, LinkRow): the only way in to a run, with publishing moved from runs to them.
  // Each existing run keeps its id as a link, so its permalink and comparisons still open it; the
  // unpublish key of a published run becomes its link's creator key. Image runs name their upload
  // in a column of their own, for the upload sweep's index.
  `CREATE TABLE links (
     id TEXT PRIMARY KEY,
     run_id TEXT NOT NULL REFERENCES runs (id),
     creator_key_hash TEXT,
     created_at INTEGER NOT NULL,
     published_at INTEGER
   );
   CREATE INDEX links_gallery ON links (published_at DESC, id) WHERE published_at IS NOT NULL;
   INSERT INTO links (id, run_id, creator_key_hash, created_at, published_at) SELECT id, id, unpublish_key_hash, created_at, published_at FROM runs;
   DROP INDEX runs_gallery;
   ALTER TABLE runs DROP COLUMN published_at;
   ALTER TABLE runs DROP COLUMN unpublish_key_hash;
   ALTER TABLE runs ADD COLUMN input_upload TEXT;
   UPDATE runs SET input_upload = json_extract(request, '$.input.upload');
   CREATE INDEX runs_by_upload ON runs (input_upload) WHERE input_upload IS NOT NULL;
   ALTER TABLE comparisons RENAME COLUMN run_ids TO link_ids;`,
];

/**
 * Applies the steps the database has not seen yet, each in its own transaction with its version
 * bump. Each transaction reads the version under the write lock (BEGIN IMMEDIATE), so two
 * processes opening a new file at once apply every step once.
 */
export function migrate(db: Database.Database, steps: readonly string[] = MIGRATIONS): number {
  // An up-to-date database (every start but the first after an update) needs no write lock: it
  // opens while another process holds the lock, and in a folder that cannot be written.
  if (db.pragma("user_version", { simple: true }) === steps.length) return steps.length;
  const applyNextStep = db.transaction((): boolean => {
    const current = db.pragma("user_version", { simple: true }) as number;
    if (current > steps.length) {
      throw new Error(`the database ${db.name} has schema version ${current}, newer than this code knows (${steps.length}); update Penumbra`);
    }
    if (current === steps.length) return false;
    db.exec(steps[current]);
    db.pragma(`user_version = ${current + 1}`);
    return true;
  });
  let applied = true;
  while (applied) applied = applyNextStep.immediate();
  return steps.length;
}

/** Whether this process may create files in the folder (false on a read-only mount, or without permission). */
function canWrite(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The database in a folder that cannot be written, for reading. A WAL database's readers need its
 * `-shm` file: one left by a process that stopped without closing opens as it is (and follows a
 * writer elsewhere); after a clean close there is none, and a read-only folder cannot get one, so
 * the file is read into memory marked as a rollback-journal database (header bytes 18 and 19),
 * which reads the same. Its schema must be current: migrating needs writes.
 */
function openReadOnly(file: string): Database.Database {
  let db = new Database(file, { readonly: true, fileMustExist: true });
  let version: number;
  try {
    version = db.pragma("user_version", { simple: true }) as number;
  } catch (error) {
    db.close();
    // SQLite cannot create the -shm file: CANTOPEN on a read-only mount, READONLY in a folder without write permission.
    const code = String((error as { code?: unknown }).code);
    const noShm = code === "SQLITE_CANTOPEN" || code.startsWith("SQLITE_READONLY");
    // Without a -wal file the database file holds every commit; with one (but no -shm) it may not.
    if (!noShm || existsSync(`${file}-wal`)) throw error;
    const image = readFileSync(file);
    image[18] = 1;
    image[19] = 1;
    db = new Database(image, { readonly: true });
    version = db.pragma("user_version", { simple: true }) as number;
  }
  if (version !== MIGRATIONS.length) {
    db.close();
    throw new Error(`the database ${file} has schema version ${version}, and this Penumbra needs ${MIGRATIONS.length}; it cannot be migrated while its folder is read-only`);
  }
  return db;
}

const LINK_COLUMNS = "links.id, run_id AS runId, creator_key_hash AS creatorKeyHash, links.created_at AS createdAt, links.published_at AS publishedAt";

const RUN_COLUMNS = `id, preset_name AS presetName, preset_digest AS presetDigest, request, status, error,
  created_at AS createdAt, started_at AS startedAt, finished_at AS finishedAt,
  description, providers, timings, rows, cols, image_width AS imageWidth, image_height AS imageHeight`;

/** `%`, `_` and the escape character itself match only themselves in a LIKE … ESCAPE '\' pattern. */
function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class SqliteRunStore implements RunStore {
  private constructor(readonly db: Database.Database) {}

  /**
   * Opens (creating if needed) `<dataDir>/penumbra.db` and brings its schema up to date; in a
   * folder this process cannot write, opens the existing database read-only instead.
   */
  static open(dataDir: string): SqliteRunStore {
    const file = path.join(dataDir, "penumbra.db");
    if (existsSync(file) && !canWrite(dataDir)) {
      console.error(`penumbra: the data folder ${dataDir} is read-only: serving what it holds, and refusing new runs and uploads (503) until it is writable and Penumbra restarts`);
      return new SqliteRunStore(openReadOnly(file));
    }
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(file);
    try {
      // Another process (a second dev server, a worker) may hold the write lock for a moment; set
      // first, as switching to WAL takes that lock too.
      db.pragma("busy_timeout = 5000");
      db.pragma("journal_mode = WAL");
      db.pragma("foreign_keys = ON");
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteRunStore(db);
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    return this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunRow | undefined;
  }

  async getCells(runId: string): Promise<CellRow[]> {
    const rows = this.db.prepare("SELECT idx, metrics, image FROM cells WHERE run_id = ? ORDER BY idx").all(runId) as { idx: number; metrics: string; image: string | null }[];
    return rows.map((row) => ({ index: row.idx, metrics: JSON.parse(row.metrics) as CellMetrics, image: row.image }));
  }

  async admit(runs: readonly Admission[], rules: AdmissionRules, now: number): Promise<AdmitResult> {
    const statusOf = this.db.prepare("SELECT status FROM runs WHERE id = ?").pluck();
    const cap = costCap(rules);
    const queuedTotals = this.db.prepare("SELECT count(*) AS depth, coalesce(sum(min(cost, @cap)), 0) AS cost FROM runs WHERE status = 'queued'");
    const clientCost = this.db.prepare("SELECT coalesce(sum(min(cost, @cap)), 0) FROM runs WHERE status = 'queued' AND client = @client").pluck();
    const insert = this.db.prepare(
      `INSERT INTO runs (id, preset_name, preset_digest, request, status, created_at, search_text, input_upload, rows, cols, image_width, image_height, watched_at, cost, client)
       VALUES (@id, @presetName, @presetDigest, @request, 'queued', @createdAt, @searchText, @inputUpload, @rows, @cols, @imageWidth, @imageHeight, @watchedAt, @cost, @client)`,
    );
    const requeue = this.db.prepare("UPDATE runs SET status = 'queued', error = NULL, started_at = NULL, finished_at = NULL, watched_at = ?, cost = ?, client = ? WHERE id = ?");
    const admit = this.db.transaction((): AdmitResult => {
      const toQueue = new Set<string>();
      const created = runs.map((run) => {
        const status = statusOf.get(run.id) as RunStatus | undefined;
        if (status === undefined || status === "failed" || status === "cancelled") toQueue.add(run.id);
        return status === undefined;
      });
      const totals = queuedTotals.get({ cap }) as { depth: number; cost: number };
      const adding = firstOfEach(runs).filter((run) => toQueue.has(run.id));
      const refused = admissionVerdict(rules, { ...totals, costOf: (client) => clientCost.get({ cap, client }) as number }, adding.map(costAndClient));
      if (refused) return refused;
      const queued: string[] = [];
      runs.forEach((run, i) => {
        if (!toQueue.delete(run.id)) return;
        const { cost, client } = costAndClient(run);
        if (created[i]) {
          if (!run.insert) throw new Error(`run ${run.id} is new but came without its row`);
          insert.run({ ...run.insert, watchedAt: now, cost, client });
        } else requeue.run(now, cost, client, run.id);
        queued.push(run.id);
      });
      return { admitted: true, created, queued };
    });
    return admit.immediate();
  }

  async claim(id: string, at: number): Promise<boolean> {
    const result = this.db
      .prepare("UPDATE runs SET status = 'running', error = NULL, started_at = ?, finished_at = NULL WHERE id = ? AND status IN ('queued', 'running')")
      .run(at, id);
    return result.changes === 1;
  }

  async markQueued(id: string): Promise<void> {
    this.db.prepare("UPDATE runs SET status = 'queued', error = NULL, started_at = NULL, finished_at = NULL WHERE id = ?").run(id);
  }

  async markDone(id: string, at: number, timings: object, providers: object): Promise<void> {
    this.db
      .prepare("UPDATE runs SET status = 'done', error = NULL, finished_at = ?, timings = ?, providers = ? WHERE id = ?")
      .run(at, JSON.stringify(timings), JSON.stringify(providers), id);
  }

  async markEnded(id: string, status: "failed" | "cancelled", error: string, at: number): Promise<void> {
    this.db.prepare("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?").run(status, error, at, id);
  }

  async saveDescription(id: string, description: object, cells: readonly CellMetrics[]): Promise<void> {
    const setDescription = this.db.prepare("UPDATE runs SET description = ? WHERE id = ?");
    const upsertCell = this.db.prepare(
      "INSERT INTO cells (run_id, idx, metrics) VALUES (?, ?, ?) ON CONFLICT (run_id, idx) DO UPDATE SET metrics = excluded.metrics",
    );
    this.db.transaction(() => {
      setDescription.run(JSON.stringify(description), id);
      cells.forEach((cell, index) => upsertCell.run(id, index, JSON.stringify(cell)));
    })();
  }

  async setCellImage(runId: string, index: number, sha256: string): Promise<void> {
    this.db.prepare("UPDATE cells SET image = ? WHERE run_id = ? AND idx = ?").run(sha256, runId, index);
  }

  async touchWatched(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    const touch = this.db.prepare("UPDATE runs SET watched_at = max(coalesce(watched_at, 0), ?) WHERE id = ?");
    this.db.transaction(() => ids.forEach((id) => touch.run(at, id)))();
  }

  async watchedAt(id: string): Promise<number | undefined> {
    const row = this.db.prepare("SELECT coalesce(watched_at, created_at) AS at FROM runs WHERE id = ?").get(id) as { at: number } | undefined;
    return row?.at;
  }

  async cancelUnwatched(before: number, reason: string, at: number): Promise<string[]> {
    return this.db
      .prepare("UPDATE runs SET status = 'cancelled', error = ?, finished_at = ? WHERE status = 'queued' AND coalesce(watched_at, created_at) < ? RETURNING id")
      .pluck()
      .all(reason, at, before) as string[];
  }

  async unfinishedRuns(): Promise<{ id: string; status: RunStatus }[]> {
    return this.db.prepare("SELECT id, status FROM runs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid").all() as { id: string; status: RunStatus }[];
  }

  async queueState(): Promise<QueueState> {
    const queued = this.db.prepare("SELECT count(*) FROM runs WHERE status = 'queued'").pluck().get() as number;
    const running = this.db.prepare("SELECT id, started_at AS startedAt FROM runs WHERE status = 'running' ORDER BY started_at, rowid").all() as { id: string; startedAt: number }[];
    return { queued, running };
  }

  async recentDurations(limit: number): Promise<number[]> {
    const rows = this.db
      .prepare("SELECT finished_at - started_at AS ms FROM runs WHERE status = 'done' AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?")
      .all(limit) as { ms: number }[];
    return rows.map((row) => row.ms);
  }

  async insertLinks(links: readonly LinkRow[]): Promise<void> {
    const insert = this.db.prepare("INSERT INTO links (id, run_id, creator_key_hash, created_at, published_at) VALUES (@id, @runId, @creatorKeyHash, @createdAt, @publishedAt)");
    this.db.transaction(() => links.forEach((link) => insert.run(link)))();
  }

  async getLink(id: string): Promise<LinkRow | undefined> {
    return this.db.prepare(`SELECT ${LINK_COLUMNS} FROM links WHERE id = ?`).get(id) as LinkRow | undefined;
  }

  async publishLink(id: string, at: number): Promise<boolean> {
    return this.db.prepare("UPDATE links SET published_at = ? WHERE id = ? AND published_at IS NULL").run(at, id).changes === 1;
  }

  async unpublishLink(id: string): Promise<boolean> {
    return this.db.prepare("UPDATE links SET published_at = NULL WHERE id = ? AND published_at IS NOT NULL").run(id).changes === 1;
  }

  async gallery(query: string, limit: number, offset: number): Promise<{ links: LinkRow[]; total: number }> {
    const search = query.trim().toLowerCase();
    const from = "links JOIN runs ON runs.id = links.run_id";
    const where = search === "" ? "links.published_at IS NOT NULL" : "links.published_at IS NOT NULL AND runs.search_text LIKE @pattern ESCAPE '\\'";
    const params = search === "" ? {} : { pattern: likeContains(search) };
    const total = (this.db.prepare(`SELECT count(*) AS n FROM ${from} WHERE ${where}`).get(params) as { n: number }).n;
    const links = this.db
      .prepare(`SELECT ${LINK_COLUMNS} FROM ${from} WHERE ${where} ORDER BY links.published_at DESC, links.id LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit, offset }) as LinkRow[];
    return { links, total };
  }

  async insertUpload(upload: UploadRow): Promise<boolean> {
    const result = this.db
      .prepare(
        `INSERT INTO uploads (sha256, type, bytes, width, height, created_at, client) VALUES (@sha256, @type, @bytes, @width, @height, @createdAt, @client)
         ON CONFLICT (sha256) DO NOTHING`,
      )
      .run({ ...upload, client: upload.client ?? null });
    return result.changes === 1;
  }

  async uploadBytesSince(client: string, since: number): Promise<number> {
    return this.db.prepare("SELECT coalesce(sum(bytes), 0) FROM uploads WHERE client = ? AND created_at >= ?").pluck().get(client, since) as number;
  }

  async removeUnreferencedUploads(before: number): Promise<{ sha256: string; sharedWithCell: boolean }[]> {
    const sweep = this.db.transaction(() => {
      const stale = this.db
        .prepare(
          `SELECT sha256, EXISTS (SELECT 1 FROM cells WHERE cells.image = uploads.sha256) AS shared FROM uploads
           WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.input_upload = uploads.sha256)`,
        )
        .all(before) as { sha256: string; shared: number }[];
      const remove = this.db.prepare("DELETE FROM uploads WHERE sha256 = ?");
      for (const row of stale) remove.run(row.sha256);
      return stale.map((row) => ({ sha256: row.sha256, sharedWithCell: row.shared === 1 }));
    });
    return sweep.immediate();
  }

  async getUpload(sha256: string): Promise<UploadRow | undefined> {
    return this.db.prepare("SELECT sha256, type, bytes, width, height, created_at AS createdAt FROM uploads WHERE sha256 = ?").get(sha256) as UploadRow | undefined;
  }

  async insertComparison(comparison: ComparisonRow): Promise<boolean> {
    const result = this.db
      .prepare("INSERT INTO comparisons (id, link_ids, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING")
      .run(comparison.id, JSON.stringify(comparison.linkIds), comparison.createdAt);
    return result.changes === 1;
  }

  async getComparison(id: string): Promise<ComparisonRow | undefined> {
    const row = this.db.prepare("SELECT id, link_ids AS linkIds, created_at AS createdAt FROM comparisons WHERE id = ?").get(id) as
      | { id: string; linkIds: string; createdAt: number }
      | undefined;
    return row && { id: row.id, linkIds: JSON.parse(row.linkIds) as string[], createdAt: row.createdAt };
  }
}
