import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { RunError } from "./errors";
import { isSha256, sha256Hex } from "./ids";
import type { BlobStore } from "./storage";

/**
 * Content-addressed files under `<root>/<first 2 hex>/<sha256>`: cell PNGs and uploads alike.
 * A file is written whole to a temporary name in its final folder and then linked to its name, so
 * a reader never sees half a file; link (unlike rename) fails on an existing name, so a stored file
 * is never rewritten, even by two writers racing with the same bytes.
 */
export class FileStore implements BlobStore {
  constructor(readonly root: string) {}

  /** Where a hash's file lives; refuses anything but 64 lowercase hex digits, so no path can escape the root. */
  pathOf(sha256: string): string {
    if (!isSha256(sha256)) throw new RunError("invalid_input", `${JSON.stringify(sha256)} is not a sha256; expected 64 lowercase hex digits`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Stores bytes under their sha256; `created` is false when they were already there. */
  async put(bytes: Uint8Array): Promise<{ sha256: string; created: boolean }> {
    const sha256 = sha256Hex(bytes);
    const target = this.pathOf(sha256);
    if (await this.has(sha256)) return { sha256, created: false };
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temporary, bytes, { flag: "wx" });
      await link(temporary, target);
      return { sha256, created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return { sha256, created: false };
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(sha256))).isFile();
    } catch (error) {
      if (error instanceof RunError) throw error;
      return false;
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** Files need no connection closed. */
  async close(): Promise<void> {}

  /** The stored bytes; not_found when there is no such file. */
  async read(sha256: string): Promise<Buffer> {
    const file = this.pathOf(sha256);
    try {
      return await readFile(file);
    } catch {
      throw new RunError("not_found", `no stored image with sha256 ${sha256}`);
    }
  }
}
