import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FileStore } from "./files";
import { sha256Hex } from "./ids";
import { makeReadOnly, mountTmpfs, unmount, whyNoTmpfs } from "./testing";

type WriteFile = typeof import("node:fs/promises").writeFile;
/** When set, the file store's writes of temporaries call this instead, with the real writeFile (the test's own writes are untouched). */
const writes = vi.hoisted(() => ({ fail: null as null | ((file: string, bytes: Uint8Array, realWrite: WriteFile) => Promise<void>) }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const writeFile: typeof actual.writeFile = (file, data, options) =>
    writes.fail && typeof file === "string" && file.endsWith(".tmp") ? writes.fail(file, data as Uint8Array, actual.writeFile) : actual.writeFile(file, data, options);
  return { ...actual, writeFile };
});

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "penumbra-files-"));
});
afterEach(async () => {
  writes.fail = null;
  await rm(root, { recursive: true, force: true });
});

/** Every file under the store's root, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name))).sort();
}

/** Half the bytes reach the disk, then it is full: what a write that runs out of room midway leaves. */
async function halfThenFull(file: string, bytes: Uint8Array, realWrite: WriteFile): Promise<void> {
  await realWrite(file, bytes.subarray(0, bytes.length >> 1), { flag: "wx" });
  throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: "ENOSPC", errno: -28, syscall: "write", path: file });
}

describe("FileStore", () => {
  it("stores bytes under their sha256 in a two-hex-digit folder and reads them back", async () => {
    const files = new FileStore(root);
    const bytes = Buffer.from("hello penumbra");
    const { sha256, created } = await files.put(bytes);
    expect(sha256).toBe(sha256Hex(bytes));
    expect(created).toBe(true);
    expect(await readFile(path.join(root, sha256.slice(0, 2), sha256))).toEqual(bytes);
    expect(await files.read(sha256)).toEqual(bytes);
    expect(await files.has(sha256)).toBe(true);
  });

  it("never rewrites an existing file and leaves no temporary files", async () => {
    const files = new FileStore(root);
    const bytes = Buffer.from("same bytes");
    const { sha256 } = await files.put(bytes);
    const file = files.pathOf(sha256);
    const before = await stat(file);
    // Racing writers of the same bytes: exactly one creates the file.
    const results = await Promise.all([files.put(bytes), files.put(bytes), files.put(bytes)]);
    expect(results.every((r) => !r.created)).toBe(true);
    expect((await stat(file)).ino).toBe(before.ino);
    expect(await readdir(path.dirname(file))).toEqual([sha256]);

    const fresh = Buffer.from("raced");
    const raced = await Promise.all([files.put(fresh), files.put(fresh)]);
    expect(raced.filter((r) => r.created)).toHaveLength(1);
    expect((await readdir(path.dirname(files.pathOf(sha256Hex(fresh))))).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses anything but 64 lowercase hex digits, so no path can leave the store", async () => {
    const files = new FileStore(root);
    await writeFile(path.join(root, "secret"), "x");
    for (const bad of ["../secret", "..%2fsecret", "A".repeat(64), `${"a".repeat(63)}/`, "a".repeat(65), "", `../${"a".repeat(62)}`]) {
      expect(() => files.pathOf(bad)).toThrow(/64 lowercase hex digits/);
      await expect(files.read(bad)).rejects.toMatchObject({ code: "invalid_input", status: 400 });
    }
  });

  it("answers not_found for a well-formed hash that is not stored", async () => {
    const files = new FileStore(root);
    await expect(files.read("0".repeat(64))).rejects.toMatchObject({ code: "not_found", status: 404 });
    expect(await files.has("0".repeat(64))).toBe(false);
  });
});

describe("FileStore on a full or read-only disk", () => {
  it("answers 503 when a write runs out of room midway, leaves nothing under the final name and keeps what was stored", async () => {
    const files = new FileStore(root);
    const kept = Buffer.from("stored before the disk filled up");
    const { sha256: keptSha } = await files.put(kept);
    writes.fail = halfThenFull;
    const bytes = randomBytes(4096);
    const error = await files.put(bytes).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unavailable", status: 503, message: "the server cannot store new data right now (its disk is full); try again later" });
    expect((error as Error).message).not.toContain(root);
    expect(String((error as { cause: Error }).cause.message)).toContain(root);
    expect(await files.has(sha256Hex(bytes))).toBe(false);
    expect(await filesUnder(root)).toEqual([path.join(keptSha.slice(0, 2), keptSha)]);
    expect(await files.read(keptSha)).toEqual(kept);

    // Once there is room again, the same bytes store whole.
    writes.fail = null;
    expect(await files.put(bytes)).toEqual({ sha256: sha256Hex(bytes), created: true });
    expect(await files.read(sha256Hex(bytes))).toEqual(bytes);
  });

  it("answers 503 read-only when the folder refuses writes", async () => {
    const files = new FileStore(root);
    for (const code of ["EROFS", "EACCES", "EPERM"]) {
      writes.fail = async (file) => {
        throw Object.assign(new Error(`${code}: refused, open '${file}'`), { code });
      };
      await expect(files.put(Buffer.from(code))).rejects.toMatchObject({
        code: "unavailable",
        status: 503,
        message: "the server cannot store new data right now (its data folder is read-only); try again later",
      });
    }
    // Any other failure is not the folder's state: it stays what it was (an internal error, once it reaches a route).
    writes.fail = async () => {
      throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
    };
    await expect(files.put(Buffer.from("eio"))).rejects.toMatchObject({ code: "EIO" });
  });

  it("answers 503 read-only in a real read-only folder, whose new subfolders Node's recursive mkdir reports as ENOENT", async (context) => {
    const files = new FileStore(root);
    const { sha256 } = await files.put(Buffer.from("stored while writable"));
    const made = makeReadOnly(root);
    if ("skip" in made) return context.skip(made.skip);
    try {
      // Bytes whose two-digit folder does not exist yet, and bytes whose folder does.
      const candidates = Array.from({ length: 4096 }, (_, i) => Buffer.from(`new ${i}`));
      const inFolder = (bytes: Buffer) => sha256Hex(bytes).slice(0, 2) === sha256.slice(0, 2);
      for (const bytes of [candidates.find((bytes) => !inFolder(bytes)), candidates.find(inFolder)]) {
        if (!bytes) throw new Error("no candidate bytes for this folder");
        await expect(files.put(bytes)).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/its data folder is read-only/) });
      }
      expect(await files.read(sha256)).toEqual(Buffer.from("stored while writable"));
    } finally {
      made.undo();
    }
  });

  it("answers 503 read-only in a real read-only data folder that has no files folder yet", async (context) => {
    const made = makeReadOnly(root);
    if ("skip" in made) return context.skip(made.skip);
    try {
      const files = new FileStore(path.join(root, "files"));
      await expect(files.put(Buffer.from("the first file"))).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/its data folder is read-only/) });
    } finally {
      made.undo();
    }
  });

  const tmpfs = path.join(tmpdir(), `penumbra-tmpfs-${process.pid}`);
  const noTmpfs = whyNoTmpfs();
  it.skipIf(noTmpfs !== null)(`fills a real 1 MB tmpfs the same way${noTmpfs ? ` (skipped: ${noTmpfs})` : ""}`, async () => {
    expect(mountTmpfs(tmpfs, 1024 * 1024)).toBeNull();
    try {
      const files = new FileStore(path.join(tmpfs, "files"));
      const kept = randomBytes(64 * 1024);
      const { sha256: keptSha } = await files.put(kept);
      await expect(files.put(randomBytes(2 * 1024 * 1024))).rejects.toMatchObject({ code: "unavailable", message: expect.stringMatching(/its disk is full/) });
      expect(await filesUnder(files.root)).toEqual([path.join(keptSha.slice(0, 2), keptSha)]);
      expect(await files.read(keptSha)).toEqual(kept);
    } finally {
      unmount(tmpfs);
      await rm(tmpfs, { recursive: true, force: true });
    }
  });
});

describe("removing abandoned temporary files", () => {
  it("removes only put()'s temporaries from before the start whose writer is gone", async () => {
    const files = new FileStore(root);
    const { sha256 } = await files.put(Buffer.from("a stored cell"));
    const folder = path.join(root, sha256.slice(0, 2));
    const started = Date.now();
    const hourAgo = new Date(started - 3_600_000);
    const gone = 2_147_483_646; // above any pid_max: no such process
    const name = (pid: number) => `${sha256}.${pid}.${randomBytes(6).toString("hex")}.tmp`;
    const make = async (file: string, when: Date | null) => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, "partial");
      if (when) await utimes(file, when, when);
    };
    const abandoned = path.join(folder, name(gone));
    // A pid reused after a restart: this process's own pid on a file older than it.
    const reusedPid = path.join(folder, name(process.pid));
    const inFlight = path.join(folder, name(process.ppid));
    const fresh = path.join(folder, name(gone));
    const notOurs = path.join(folder, "notes.tmp");
    const wrongFolder = path.join(root, "ff", name(gone));
    await make(abandoned, hourAgo);
    await make(reusedPid, hourAgo);
    await make(inFlight, hourAgo);
    await make(fresh, new Date(started + 60_000));
    await make(notOurs, hourAgo);
    await make(wrongFolder, hourAgo);

    expect(await files.removeAbandonedTemporaries(started)).toBe(2);
    const left = await filesUnder(root);
    expect(left).toEqual([inFlight, fresh, notOurs, path.join(folder, sha256), wrongFolder].map((file) => path.relative(root, file)).sort());
    expect(await files.read(sha256)).toEqual(Buffer.from("a stored cell"));
  });

  it("finds nothing to remove in a store that was never written", async () => {
    expect(await new FileStore(path.join(root, "never")).removeAbandonedTemporaries(Date.now())).toBe(0);
  });
});
