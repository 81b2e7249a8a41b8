import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileStore } from "./files";
import { sha256Hex } from "./ids";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "penumbra-files-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

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
