import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { CellMetrics } from "../record";

/*
 * The SQLite side of runs: one database file per data folder, WAL so readers never wait for the
 * worker's writes, schema versions in PRAGMA user_version. Times are milliseconds since the epoch;
 * JSON columns hold exactly what the Run JSON shows.
 */

export type RunStatus = "queued" | "running" | "done" | "failed" | "cancelled";

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
];

/** Applies the steps the database has not seen yet, each in its own transaction with its version bump. */
export function migrate(db: Database.Database, steps: readonly string[] = MIGRATIONS): number {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > steps.length) {
    throw new Error(`the database ${db.name} has schema version ${current}, newer than this code knows (${steps.length}); update Penumbra`);
  }
  for (let version = current; version < steps.length; version++) {
    db.transaction(() => {
      db.exec(steps[version]);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return steps.length;
}

export interface RunRow {
  readonly id: string;
  readonly presetName: string;
  readonly presetDigest: string;
  /** Canonical JSON of the stored request. */
  readonly request: string;
  readonly status: RunStatus;
  readonly error: string | null;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly publishedAt: number | null;
  readonly description: string | null;
  readonly providers: string | null;
  readonly timings: string | null;
  readonly rows: number;
  readonly cols: number;
  readonly imageWidth: number;
  readonly imageHeight: number;
}

export type NewRun = Pick<RunRow, "id" | "presetName" | "presetDigest" | "request" | "createdAt" | "rows" | "cols" | "imageWidth" | "imageHeight"> & {
  /** Lowercased caption for the gallery search; null for image runs. */
  readonly searchText: string | null;
};

export interface CellRow {
  readonly index: number;
  readonly metrics: CellMetrics;
  readonly image: string | null;
}

export interface UploadRow {
  readonly sha256: string;
  readonly type: string;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly createdAt: number;
}

export interface ComparisonRow {
  readonly id: string;
  readonly runIds: readonly string[];
  readonly createdAt: number;
}

const RUN_COLUMNS = `id, preset_name AS presetName, preset_digest AS presetDigest, request, status, error,
  created_at AS createdAt, started_at AS startedAt, finished_at AS finishedAt, published_at AS publishedAt,
  description, providers, timings, rows, cols, image_width AS imageWidth, image_height AS imageHeight`;

/** `%`, `_` and the escape character itself match only themselves in a LIKE … ESCAPE '\' pattern. */
function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class RunStore {
  private constructor(readonly db: Database.Database) {}

  /** Opens (creating if needed) `<dataDir>/penumbra.db` and brings its schema up to date. */
  static open(dataDir: string): RunStore {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(path.join(dataDir, "penumbra.db"));
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("foreign_keys = ON");
      // Another process (a second dev server) may hold the write lock for a moment.
      db.pragma("busy_timeout = 5000");
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    return new RunStore(db);
  }

  close(): void {
    this.db.close();
  }

  insertRun(run: NewRun): void {
    this.db
      .prepare(
        `INSERT INTO runs (id, preset_name, preset_digest, request, status, created_at, search_text, rows, cols, image_width, image_height)
         VALUES (@id, @presetName, @presetDigest, @request, 'queued', @createdAt, @searchText, @rows, @cols, @imageWidth, @imageHeight)`,
      )
      .run(run);
  }

  getRun(id: string): RunRow | undefined {
    return this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunRow | undefined;
  }

  getCells(runId: string): CellRow[] {
    const rows = this.db.prepare("SELECT idx, metrics, image FROM cells WHERE run_id = ? ORDER BY idx").all(runId) as { idx: number; metrics: string; image: string | null }[];
    return rows.map((row) => ({ index: row.idx, metrics: JSON.parse(row.metrics) as CellMetrics, image: row.image }));
  }

  /** Back in the queue: the previous attempt's error and times are cleared, its finished cells kept. */
  markQueued(id: string): void {
    this.db.prepare("UPDATE runs SET status = 'queued', error = NULL, started_at = NULL, finished_at = NULL WHERE id = ?").run(id);
  }

  markRunning(id: string, at: number): void {
    this.db.prepare("UPDATE runs SET status = 'running', error = NULL, started_at = ?, finished_at = NULL WHERE id = ?").run(at, id);
  }

  markDone(id: string, at: number, timings: object, providers: object): void {
    this.db
      .prepare("UPDATE runs SET status = 'done', error = NULL, finished_at = ?, timings = ?, providers = ? WHERE id = ?")
      .run(at, JSON.stringify(timings), JSON.stringify(providers), id);
  }

  markEnded(id: string, status: "failed" | "cancelled", error: string, at: number): void {
    this.db.prepare("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?").run(status, error, at, id);
  }

  /**
   * Stores the description and every cell's metrics at once. A resumed run plans the same cells
   * again; their metrics are rewritten and their finished images kept.
   */
  saveDescription(id: string, description: object, cells: readonly CellMetrics[]): void {
    const setDescription = this.db.prepare("UPDATE runs SET description = ? WHERE id = ?");
    const upsertCell = this.db.prepare(
      "INSERT INTO cells (run_id, idx, metrics) VALUES (?, ?, ?) ON CONFLICT (run_id, idx) DO UPDATE SET metrics = excluded.metrics",
    );
    this.db.transaction(() => {
      setDescription.run(JSON.stringify(description), id);
      cells.forEach((cell, index) => upsertCell.run(id, index, JSON.stringify(cell)));
    })();
  }

  setCellImage(runId: string, index: number, sha256: string): void {
    this.db.prepare("UPDATE cells SET image = ? WHERE run_id = ? AND idx = ?").run(sha256, runId, index);
  }

  /** Runs a stopped process left queued or running, oldest first. */
  unfinishedRuns(): { id: string; status: RunStatus }[] {
    return this.db.prepare("SELECT id, status FROM runs WHERE status IN ('queued', 'running') ORDER BY created_at, rowid").all() as { id: string; status: RunStatus }[];
  }

  /** Wall-clock milliseconds of the most recently finished successful runs. */
  recentDurations(limit: number): number[] {
    const rows = this.db
      .prepare("SELECT finished_at - started_at AS ms FROM runs WHERE status = 'done' AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?")
      .all(limit) as { ms: number }[];
    return rows.map((row) => row.ms);
  }

  /** Sets published_at once; publishing again keeps the first time. */
  publish(id: string, at: number): void {
    this.db.prepare("UPDATE runs SET published_at = ? WHERE id = ? AND published_at IS NULL").run(at, id);
  }

  /** Published runs newest first, optionally only those whose caption contains `query` (any case). */
  gallery(query: string, limit: number, offset: number): { rows: RunRow[]; total: number } {
    const search = query.trim().toLowerCase();
    const where = search === "" ? "published_at IS NOT NULL" : "published_at IS NOT NULL AND search_text LIKE @pattern ESCAPE '\\'";
    const params = search === "" ? {} : { pattern: likeContains(search) };
    const total = (this.db.prepare(`SELECT count(*) AS n FROM runs WHERE ${where}`).get(params) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE ${where} ORDER BY published_at DESC, id LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit, offset }) as RunRow[];
    return { rows, total };
  }

  /** Inserts the upload unless its bytes were stored before; true when it is new. */
  insertUpload(upload: UploadRow): boolean {
    const result = this.db
      .prepare(
        `INSERT INTO uploads (sha256, type, bytes, width, height, created_at) VALUES (@sha256, @type, @bytes, @width, @height, @createdAt)
         ON CONFLICT (sha256) DO NOTHING`,
      )
      .run(upload);
    return result.changes === 1;
  }

  getUpload(sha256: string): UploadRow | undefined {
    return this.db.prepare("SELECT sha256, type, bytes, width, height, created_at AS createdAt FROM uploads WHERE sha256 = ?").get(sha256) as UploadRow | undefined;
  }

  /** Inserts the comparison unless it exists; true when it is new. */
  insertComparison(comparison: ComparisonRow): boolean {
    const result = this.db
      .prepare("INSERT INTO comparisons (id, run_ids, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING")
      .run(comparison.id, JSON.stringify(comparison.runIds), comparison.createdAt);
    return result.changes === 1;
  }

  getComparison(id: string): ComparisonRow | undefined {
    const row = this.db.prepare("SELECT id, run_ids AS runIds, created_at AS createdAt FROM comparisons WHERE id = ?").get(id) as
      | { id: string; runIds: string; createdAt: number }
      | undefined;
    return row && { id: row.id, runIds: JSON.parse(row.runIds) as string[], createdAt: row.createdAt };
  }
}
