import { randomBytes } from "node:crypto";
import { link, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { readableMessage, RunError, type StorageFault, unavailableError } from "./errors";
import { isSha256, sha256Hex } from "./ids";
import type { BlobStore } from "./storage";

/** The name put() writes a file under before linking it: `<sha256>.<writer's pid>.<12 hex>.tmp`. */
const TEMPORARY_NAME = /^([0-9a-f]{64})\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/** A failed write that is the folder's state, not a bug: no room left, or no permission to write. */
function writeFault(error: unknown): StorageFault | null {
  switch ((error as NodeJS.ErrnoException).code) {
    case "ENOSPC":
    case "EDQUOT":
      return "full";
    case "EROFS":
    case "EACCES":
    case "EPERM":
      return "read-only";
    default:
      return null;
  }
}

/** Whether a process with this pid runs (one of another user's answers EPERM, and runs). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Creates the folder and any missing parent. */
async function makeFolder(folder: string): Promise<void> {
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    // Node's recursive mkdir reports a read-only file system as ENOENT, at any depth; made one level
    // at a time, from the deepest that exists, the first level that cannot be made says EROFS.
    const parent = path.dirname(folder);
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === folder) throw error;
    await makeFolder(parent);
    await mkdir(folder).catch((again: unknown) => {
      if ((again as NodeJS.ErrnoException).code !== "EEXIST") throw again;
    });
  }
}

/**
 * Content-addressed files under `<root>/<first 2 hex>/<sha256>`: cell PNGs and uploads alike.
 * A file is written whole to a temporary name in its final folder and then linked to its name, so
 * a reader never sees half a file, and a write that fails midway (a full disk) leaves nothing under
 * the final name; link (unlike rename) fails on an existing name, so a stored file is never
 * rewritten, even by two writers racing with the same bytes.
 */
export class FileStore implements BlobStore {
  constructor(readonly root: string) {}

  /** Where a hash's file lives; refuses anything but 64 lowercase hex digits, so no path can escape the root. */
  pathOf(sha256: string): string {
    if (!isSha256(sha256)) throw new RunError("invalid_input", `${JSON.stringify(sha256)} is not a sha256; expected 64 lowercase hex digits`);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }

  /** Stores bytes under their sha256; `created` is false when they were already there. A full or read-only folder is 503 unavailable. */
  async put(bytes: Uint8Array): Promise<{ sha256: string; created: boolean }> {
    const sha256 = sha256Hex(bytes);
    const target = this.pathOf(sha256);
    if (await this.has(sha256)) return { sha256, created: false };
    const temporary = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await makeFolder(path.dirname(target));
      await writeFile(temporary, bytes, { flag: "wx" });
      await link(temporary, target);
      return { sha256, created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return { sha256, created: false };
      const fault = writeFault(error);
      throw fault ? unavailableError(fault, error) : error;
    } finally {
      // A temporary that cannot be removed must not fail a stored file; start-up removes it (removeAbandonedTemporaries).
      await rm(temporary, { force: true }).catch((error: unknown) => console.error(`penumbra: could not remove a temporary file (${readableMessage(error)}); the next start-up removes it`));
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

  /**
   * Removes the temporary files of writes that never finished (a process killed with `kill -9`
   * mid-write): only names put() gives, last changed before `before` (this process's start), and
   * not of a running writer (the pid in the name), so a write in flight in another process sharing
   * the folder is kept. A temporary named with this process's pid predates it, so a pid reused
   * after a restart (a container's) does not keep it. Returns how many it removed.
   */
  async removeAbandonedTemporaries(before: number): Promise<number> {
    let folders: string[];
    try {
      folders = await readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw error;
    }
    let removed = 0;
    for (const folder of folders.filter((name) => /^[0-9a-f]{2}$/.test(name))) {
      for (const name of await readdir(path.join(this.root, folder))) {
        const match = TEMPORARY_NAME.exec(name);
        if (!match || !match[1].startsWith(folder)) continue;
        const writer = Number(match[2]);
        if (writer !== process.pid && isRunning(writer)) continue;
        const file = path.join(this.root, folder, name);
        const changed = await stat(file).then(
          (stats) => stats.mtimeMs,
          () => null,
        );
        if (changed === null || changed >= before) continue;
        await rm(file, { force: true });
        removed += 1;
      }
    }
    return removed;
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
