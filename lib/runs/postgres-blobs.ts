import type pg from "pg";
import { RunError } from "./errors";
import { isSha256, sha256Hex } from "./ids";
import { migratePostgres, openPool } from "./postgres-store";
import type { BlobStore } from "./storage";

/**
 * Cell PNGs and uploads in PostgreSQL's `blobs` table, named by their sha256: every web and worker
 * process reaches the same bytes. A name is inserted once (ON CONFLICT DO NOTHING), so a stored
 * blob is never rewritten, even by two workers storing the same cell at once.
 */
export class PostgresBlobStore implements BlobStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  static async connect(url: string, pool?: pg.Pool): Promise<PostgresBlobStore> {
    const store = new PostgresBlobStore(pool ?? openPool(url), pool === undefined);
    try {
      await migratePostgres(store.pool);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async put(bytes: Uint8Array): Promise<{ sha256: string; created: boolean }> {
    const sha256 = sha256Hex(bytes);
    const result = await this.pool.query("INSERT INTO blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING", [sha256, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    return { sha256, created: result.rowCount === 1 };
  }

  async has(sha256: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("SELECT 1 FROM blobs WHERE sha256 = $1", [checked(sha256)]);
    return rowCount === 1;
  }

  async read(sha256: string): Promise<Buffer> {
    const { rows } = await this.pool.query<{ bytes: Buffer }>("SELECT bytes FROM blobs WHERE sha256 = $1", [checked(sha256)]);
    if (rows.length === 0) throw new RunError("not_found", `no stored image with sha256 ${sha256}`);
    return rows[0].bytes;
  }

  async remove(sha256: string): Promise<void> {
    await this.pool.query("DELETE FROM blobs WHERE sha256 = $1", [checked(sha256)]);
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

function checked(sha256: string): string {
  if (!isSha256(sha256)) throw new RunError("invalid_input", `${JSON.stringify(sha256)} is not a sha256; expected 64 lowercase hex digits`);
  return sha256;
}
