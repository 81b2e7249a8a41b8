import pg from "pg";
import type { CellMetrics } from "../record";
import { type AdmissionRules, admissionVerdict, costCap, type AdmitResult, type Admission, type CellRow, type ComparisonRow, costAndClient, firstOfEach, type LinkRow, type QueueState, type RunRow, type RunStatus, type RunStore, type UploadRow } from "./storage";

/*
 * The distributed deployment's run store: PostgreSQL, shared by every web and worker process.
 * Times are BIGINT milliseconds (read back as numbers), JSON columns are text so they round-trip
 * byte for byte as in SQLite. Admission takes a transaction-scoped advisory lock, so the queue
 * limit holds however many processes admit at once.
 */

/** Each step brings the schema from version i to i + 1; never edit a released step, append one. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     preset_name TEXT NOT NULL,
     preset_digest TEXT NOT NULL,
     request TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
     error TEXT,
     created_at BIGINT NOT NULL,
     started_at BIGINT,
     finished_at BIGINT,
     published_at BIGINT,
     watched_at BIGINT NOT NULL,
     search_text TEXT,
     description TEXT,
     providers TEXT,
     timings TEXT,
     rows INTEGER NOT NULL,
     cols INTEGER NOT NULL,
     image_width INTEGER NOT NULL,
     image_height INTEGER NOT NULL,
     seq BIGSERIAL
   );
   CREATE INDEX runs_gallery ON runs (published_at DESC, id) WHERE published_at IS NOT NULL;
   CREATE INDEX runs_unfinished ON runs (created_at, seq) WHERE status IN ('queued', 'running');
   CREATE TABLE cells (
     run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
     idx INTEGER NOT NULL,
     metrics TEXT NOT NULL,
     image TEXT,
     PRIMARY KEY (run_id, idx)
   );
   CREATE TABLE uploads (
     sha256 TEXT PRIMARY KEY,
     type TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     width INTEGER NOT NULL,
     height INTEGER NOT NULL,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE comparisons (
     id TEXT PRIMARY KEY,
     run_ids TEXT NOT NULL,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE blobs (
     sha256 TEXT PRIMARY KEY,
     bytes BYTEA NOT NULL
   );`,
  // Who may take a published run out of the gallery: the sha256 of the key its publisher was given.
  `ALTER TABLE runs ADD COLUMN unpublish_key_hash TEXT;`,
  // What a queued run costs to decode and who asked for it, for cost-based admission (storage.ts).
  `ALTER TABLE runs ADD COLUMN cost BIGINT NOT NULL DEFAULT 0;
   ALTER TABLE runs ADD COLUMN client TEXT;`,
  // Who stored an upload, for the per-client upload quota (service.ts).
  `ALTER TABLE uploads ADD COLUMN client TEXT;
   CREATE INDEX uploads_by_client ON uploads (client, created_at);`,
  // Links (storage.ts, LinkRow), as in the SQLite store's step of the same name: existing runs keep
  // their ids as links, publishing moves to links, image runs name their upload in a column.
  `CREATE TABLE links (
     id TEXT PRIMARY KEY,
     run_id TEXT NOT NULL REFERENCES runs (id),
     creator_key_hash TEXT,
     created_at BIGINT NOT NULL,
     published_at BIGINT
   );
   CREATE INDEX links_gallery ON links (published_at DESC, id) WHERE published_at IS NOT NULL;
   INSERT INTO links (id, run_id, creator_key_hash, created_at, published_at) SELECT id, id, unpublish_key_hash, created_at, published_at FROM runs;
   DROP INDEX runs_gallery;
   ALTER TABLE runs DROP COLUMN published_at, DROP COLUMN unpublish_key_hash, ADD COLUMN input_upload TEXT;
   UPDATE runs SET input_upload = request::json -> 'input' ->> 'upload';
   CREATE INDEX runs_by_upload ON runs (input_upload) WHERE input_upload IS NOT NULL;
   ALTER TABLE comparisons RENAME COLUMN run_ids TO link_ids;`,
];

// Advisory lock keys (any two fixed numbers no other application on the database uses).
const MIGRATION_LOCK = 7_360_001;
const ADMISSION_LOCK = 7_360_002;

const RUN_COLUMNS = `id, preset_name AS "presetName", preset_digest AS "presetDigest", request, status, error,
  created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt",
  description, providers, timings, rows, cols, image_width AS "imageWidth", image_height AS "imageHeight"`;

const LINK_COLUMNS = `links.id, run_id AS "runId", creator_key_hash AS "creatorKeyHash", links.created_at AS "createdAt", links.published_at AS "publishedAt"`;

// BIGINT comes back as a string by default; these are milliseconds, far below 2^53.
const BIGINT_OID = 20;
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === BIGINT_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** `%`, `_` and the escape character itself match only themselves in a LIKE … ESCAPE '\' pattern. */
function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Brings the schema up to date once, however many processes start together. */
export async function migratePostgres(pool: pg.Pool, steps: readonly string[] = POSTGRES_MIGRATIONS): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS penumbra_schema (version INTEGER NOT NULL)");
    const { rows } = await client.query<{ version: number }>("SELECT version FROM penumbra_schema");
    if (rows.length === 0) await client.query("INSERT INTO penumbra_schema (version) VALUES (0)");
    const current = rows[0]?.version ?? 0;
    if (current > steps.length) throw new Error(`the database has schema version ${current}, newer than this code knows (${steps.length}); update Penumbra`);
    for (let version = current; version < steps.length; version++) {
      await client.query("BEGIN");
      try {
        await client.query(steps[version]);
        await client.query("UPDATE penumbra_schema SET version = $1", [version + 1]);
        await client.query("COMMIT");
      } catch (error) {
        // A broken connection cannot roll back (the server already has); the step's own error is the one to report.
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    }
    return steps.length;
  } finally {
    // The lock belongs to the session, not a transaction: a connection that could not give it back
    // is discarded rather than returned to the pool, where it would block every later migration.
    const unlockFailure = await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    client.release(unlockFailure);
  }
}

/** A pool whose BIGINTs read back as numbers; shared by the run store and the blob store of one process. */
export function openPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, types, max: 8 });
  // An idle client's connection dropping must not crash the process; the next query reconnects.
  pool.on("error", (error) => console.error("penumbra: a PostgreSQL connection failed", error));
  return pool;
}

export class PostgresRunStore implements RunStore {
  private constructor(
    readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  /** Connects (a pool of its own unless one is given) and migrates the schema. */
  static async connect(url: string, pool?: pg.Pool): Promise<PostgresRunStore> {
    const store = new PostgresRunStore(pool ?? openPool(url), pool === undefined);
    try {
      await migratePostgres(store.pool);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    const { rows } = await this.pool.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
    return rows[0];
  }

  async getCells(runId: string): Promise<CellRow[]> {
    const { rows } = await this.pool.query<{ idx: number; metrics: string; image: string | null }>("SELECT idx, metrics, image FROM cells WHERE run_id = $1 ORDER BY idx", [runId]);
    return rows.map((row) => ({ index: row.idx, metrics: JSON.parse(row.metrics) as CellMetrics, image: row.image }));
  }

  async admit(runs: readonly Admission[], rules: AdmissionRules, now: number): Promise<AdmitResult> {
    return this.transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [ADMISSION_LOCK]);
      const ids = runs.map((run) => run.id);
      const { rows: existing } = await client.query<{ id: string; status: RunStatus }>("SELECT id, status FROM runs WHERE id = ANY($1)", [ids]);
      const statusOf = new Map(existing.map((row) => [row.id, row.status]));
      const toQueue = new Set<string>();
      const created = runs.map((run) => {
        const status = statusOf.get(run.id);
        if (status === undefined || status === "failed" || status === "cancelled") toQueue.add(run.id);
        return status === undefined;
      });
      const cap = costCap(rules);
      const { rows: totals } = await client.query<{ depth: number; cost: string }>("SELECT count(*)::int AS depth, coalesce(sum(least(cost, $1)), 0) AS cost FROM runs WHERE status = 'queued'", [cap]);
      const adding = firstOfEach(runs).filter((run) => toQueue.has(run.id)).map(costAndClient);
      const { rows: byClient } = await client.query<{ client: string; cost: string }>(
        "SELECT client, sum(least(cost, $2)) AS cost FROM runs WHERE status = 'queued' AND client = ANY($1) GROUP BY client",
        [adding.flatMap((run) => (run.client === null ? [] : [run.client])), cap],
      );
      const costOf = new Map(byClient.map((row) => [row.client, Number(row.cost)]));
      const refused = admissionVerdict(rules, { depth: totals[0].depth, cost: Number(totals[0].cost), costOf: (name) => costOf.get(name) ?? 0 }, adding);
      if (refused) return refused;
      const queued: string[] = [];
      for (const [i, run] of runs.entries()) {
        if (!toQueue.delete(run.id)) continue;
        const { cost, client: asker } = costAndClient(run);
        if (created[i]) {
          const row = run.insert;
          if (!row) throw new Error(`run ${run.id} is new but came without its row`);
          await client.query(
            `INSERT INTO runs (id, preset_name, preset_digest, request, status, created_at, search_text, input_upload, rows, cols, image_width, image_height, watched_at, cost, client)
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
            [row.id, row.presetName, row.presetDigest, row.request, row.createdAt, row.searchText, row.inputUpload, row.rows, row.cols, row.imageWidth, row.imageHeight, now, cost, asker],
          );
        } else {
          await client.query("UPDATE runs SET status = 'queued', error = NULL, started_at = NULL, finished_at = NULL, watched_at = $1, cost = $2, client = $3 WHERE id = $4", [
            now,
            cost,
            asker,
            run.id,
          ]);
        }
        queued.push(run.id);
      }
      return { admitted: true, created, queued };
    });
  }

  async claim(id: string, at: number): Promise<boolean> {
    const result = await this.pool.query("UPDATE runs SET status = 'running', error = NULL, started_at = $1, finished_at = NULL WHERE id = $2 AND status IN ('queued', 'running')", [at, id]);
    return result.rowCount === 1;
  }

  async markQueued(id: string): Promise<void> {
    await this.pool.query("UPDATE runs SET status = 'queued', error = NULL, started_at = NULL, finished_at = NULL WHERE id = $1", [id]);
  }

  async markDone(id: string, at: number, timings: object, providers: object): Promise<void> {
    await this.pool.query("UPDATE runs SET status = 'done', error = NULL, finished_at = $1, timings = $2, providers = $3 WHERE id = $4", [
      at,
      JSON.stringify(timings),
      JSON.stringify(providers),
      id,
    ]);
  }

  async markEnded(id: string, status: "failed" | "cancelled", error: string, at: number): Promise<void> {
    await this.pool.query("UPDATE runs SET status = $1, error = $2, finished_at = $3 WHERE id = $4", [status, error, at, id]);
  }

  async saveDescription(id: string, description: object, cells: readonly CellMetrics[]): Promise<void> {
    await this.transaction(async (client) => {
      await client.query("UPDATE runs SET description = $1 WHERE id = $2", [JSON.stringify(description), id]);
      await client.query(
        `INSERT INTO cells (run_id, idx, metrics) SELECT $1, ordinality - 1, metrics FROM unnest($2::text[]) WITH ORDINALITY AS m (metrics, ordinality)
         ON CONFLICT (run_id, idx) DO UPDATE SET metrics = excluded.metrics`,
        [id, cells.map((cell) => JSON.stringify(cell))],
      );
    });
  }

  async setCellImage(runId: string, index: number, sha256: string): Promise<void> {
    await this.pool.query("UPDATE cells SET image = $1 WHERE run_id = $2 AND idx = $3", [sha256, runId, index]);
  }

  async touchWatched(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query("UPDATE runs SET watched_at = greatest(watched_at, $1) WHERE id = ANY($2)", [at, ids]);
  }

  async watchedAt(id: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ at: number }>("SELECT watched_at AS at FROM runs WHERE id = $1", [id]);
    return rows[0]?.at;
  }

  async cancelUnwatched(before: number, reason: string, at: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      "UPDATE runs SET status = 'cancelled', error = $1, finished_at = $2 WHERE status = 'queued' AND watched_at < $3 RETURNING id",
      [reason, at, before],
    );
    return rows.map((row) => row.id);
  }

  async unfinishedRuns(): Promise<{ id: string; status: RunStatus }[]> {
    const { rows } = await this.pool.query<{ id: string; status: RunStatus }>("SELECT id, status FROM runs WHERE status IN ('queued', 'running') ORDER BY created_at, seq");
    return rows;
  }

  async queueState(): Promise<QueueState> {
    const [queued, running] = await Promise.all([
      this.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE status = 'queued'"),
      this.pool.query<{ id: string; startedAt: number }>(`SELECT id, started_at AS "startedAt" FROM runs WHERE status = 'running' ORDER BY started_at, seq`),
    ]);
    return { queued: queued.rows[0].n, running: running.rows };
  }

  async recentDurations(limit: number): Promise<number[]> {
    const { rows } = await this.pool.query<{ ms: number }>(
      "SELECT finished_at - started_at AS ms FROM runs WHERE status = 'done' AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT $1",
      [limit],
    );
    return rows.map((row) => row.ms);
  }

  async insertLinks(links: readonly LinkRow[]): Promise<void> {
    if (links.length === 0) return;
    // One statement, so all or none.
    await this.pool.query(
      `INSERT INTO links (id, run_id, creator_key_hash, created_at, published_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])`,
      [links.map((l) => l.id), links.map((l) => l.runId), links.map((l) => l.creatorKeyHash), links.map((l) => l.createdAt), links.map((l) => l.publishedAt)],
    );
  }

  async getLink(id: string): Promise<LinkRow | undefined> {
    const { rows } = await this.pool.query<LinkRow>(`SELECT ${LINK_COLUMNS} FROM links WHERE id = $1`, [id]);
    return rows[0];
  }

  async publishLink(id: string, at: number): Promise<boolean> {
    return (await this.pool.query("UPDATE links SET published_at = $1 WHERE id = $2 AND published_at IS NULL", [at, id])).rowCount === 1;
  }

  async unpublishLink(id: string): Promise<boolean> {
    return (await this.pool.query("UPDATE links SET published_at = NULL WHERE id = $1 AND published_at IS NOT NULL", [id])).rowCount === 1;
  }

  async gallery(query: string, limit: number, offset: number): Promise<{ links: LinkRow[]; total: number }> {
    const search = query.trim().toLowerCase();
    const from = "links JOIN runs ON runs.id = links.run_id";
    const where = search === "" ? "links.published_at IS NOT NULL" : "links.published_at IS NOT NULL AND runs.search_text LIKE $1 ESCAPE '\\'";
    const params = search === "" ? [] : [likeContains(search)];
    const [count, page] = await Promise.all([
      this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${from} WHERE ${where}`, params),
      this.pool.query<LinkRow>(`SELECT ${LINK_COLUMNS} FROM ${from} WHERE ${where} ORDER BY links.published_at DESC, links.id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, [
        ...params,
        limit,
        offset,
      ]),
    ]);
    return { links: page.rows, total: count.rows[0].n };
  }

  async insertUpload(upload: UploadRow): Promise<boolean> {
    const result = await this.pool.query(
      "INSERT INTO uploads (sha256, type, bytes, width, height, created_at, client) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO NOTHING",
      [upload.sha256, upload.type, upload.bytes, upload.width, upload.height, upload.createdAt, upload.client ?? null],
    );
    return result.rowCount === 1;
  }

  async uploadBytesSince(client: string, since: number): Promise<number> {
    const { rows } = await this.pool.query<{ bytes: string }>("SELECT coalesce(sum(bytes), 0) AS bytes FROM uploads WHERE client = $1 AND created_at >= $2", [client, since]);
    return Number(rows[0].bytes);
  }

  async removeUnreferencedUploads(before: number): Promise<{ sha256: string; sharedWithCell: boolean }[]> {
    const { rows } = await this.pool.query<{ sha256: string; shared: boolean }>(
      `DELETE FROM uploads WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.input_upload = uploads.sha256)
       RETURNING sha256, EXISTS (SELECT 1 FROM cells WHERE cells.image = uploads.sha256) AS shared`,
      [before],
    );
    return rows.map((row) => ({ sha256: row.sha256, sharedWithCell: row.shared }));
  }

  async getUpload(sha256: string): Promise<UploadRow | undefined> {
    const { rows } = await this.pool.query<UploadRow>(`SELECT sha256, type, bytes, width, height, created_at AS "createdAt" FROM uploads WHERE sha256 = $1`, [sha256]);
    return rows[0];
  }

  async insertComparison(comparison: ComparisonRow): Promise<boolean> {
    const result = await this.pool.query("INSERT INTO comparisons (id, link_ids, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING", [
      comparison.id,
      JSON.stringify(comparison.linkIds),
      comparison.createdAt,
    ]);
    return result.rowCount === 1;
  }

  async getComparison(id: string): Promise<ComparisonRow | undefined> {
    const { rows } = await this.pool.query<{ id: string; linkIds: string; createdAt: number }>(`SELECT id, link_ids AS "linkIds", created_at AS "createdAt" FROM comparisons WHERE id = $1`, [id]);
    const row = rows[0];
    return row && { id: row.id, linkIds: JSON.parse(row.linkIds) as string[], createdAt: row.createdAt };
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }
}
