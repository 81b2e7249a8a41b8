import { execFileSync } from "node:child_process";
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "vitest";
import { crc32 } from "../engine/index";
import { unavailableError } from "./errors";
import type { BlobStore, RunStore } from "./storage";

/* Helpers for tests of lib/runs and the route handlers: hand-made PNG headers, reading archives back, full or read-only disks. */

export interface ParsedZipEntry {
  readonly name: string;
  readonly data: Buffer;
  readonly time: number;
  readonly date: number;
}

/** Reads a stored-entries zip back through its central directory, checking each entry's CRC-32 and local header. */
export function readZip(zip: Buffer): ParsedZipEntry[] {
  const end = zip.length - 22;
  expect(zip.readUInt32LE(end)).toBe(0x06054b50);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  expect(at + zip.readUInt32LE(end + 12)).toBe(end);
  const entries: ParsedZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    expect(zip.readUInt16LE(at + 10)).toBe(0);
    const crc = zip.readUInt32LE(at + 16);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    expect(zip.readUInt32LE(local)).toBe(0x04034b50);
    expect(zip.readUInt32LE(local + 14)).toBe(crc);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataStart, dataStart + size);
    expect(crc32(data)).toBe(crc);
    entries.push({ name, data, time: zip.readUInt16LE(at + 12), date: zip.readUInt16LE(at + 14) });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

/** `unzip -tq` on the archive (quiet: a list of 65535 entries would overflow the output buffer) when the tool is installed; true when it passed, false when it could not run. */
export async function unzipTests(zip: Buffer): Promise<boolean> {
  if (!existsSync("/usr/bin/unzip")) return false;
  const dir = await mkdtemp(path.join(tmpdir(), "penumbra-zip-"));
  try {
    await writeFile(path.join(dir, "a.zip"), zip);
    execFileSync("/usr/bin/unzip", ["-tq", path.join(dir, "a.zip")], { stdio: "pipe" });
    return true;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Why a disk test cannot run here, or null when it can; such a test skips with this reason. */
export type SkipReason = string | null;

function mount(args: readonly string[]): SkipReason {
  try {
    execFileSync("mount", args, { stdio: "pipe" });
    return null;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `cannot mount here (needs root, or CAP_SYS_ADMIN in a container): ${stderr || (error as Error).message}`;
  }
}

/** Mounts a tmpfs of `bytes` at `dir` (created if missing), a disk that fills up; null when it mounted. Unmount with `unmount(dir)`. */
export function mountTmpfs(dir: string, bytes: number): SkipReason {
  mkdirSync(dir, { recursive: true });
  return mount(["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir]);
}

/** Why no tmpfs can be mounted here, or null when one can: tried on a scratch folder, which is removed again. */
export function whyNoTmpfs(): SkipReason {
  const scratch = mkdtempSync(path.join(tmpdir(), "penumbra-tmpfs-probe-"));
  const reason = mountTmpfs(scratch, 64 * 1024);
  if (reason === null) unmount(scratch);
  rmSync(scratch, { recursive: true, force: true });
  return reason;
}

/** Detaches the mount at once (lazily: a file a failed test left open must not keep it mounted). */
export function unmount(dir: string): void {
  execFileSync("umount", ["--lazy", dir], { stdio: "pipe" });
}

function chmodTree(dir: string, write: boolean): void {
  for (const name of readdirSync(dir)) {
    const entry = path.join(dir, name);
    if (statSync(entry).isDirectory()) chmodTree(entry, write);
    chmodSync(entry, write ? 0o755 : 0o555);
  }
  chmodSync(dir, write ? 0o755 : 0o555);
}

/**
 * Makes `dir` read-only, as an operator's read-only mount would: root ignores file modes, so as
 * root it bind-mounts the folder read-only over itself; anyone else loses write permission on it
 * and everything in it. Returns how to undo it, or why it cannot be done here.
 */
export function makeReadOnly(dir: string): { readonly undo: () => void } | { readonly skip: string } {
  if (process.getuid?.() === 0) {
    const failed = mount(["--bind", dir, dir]) ?? mount(["-o", "remount,ro,bind", dir]);
    if (failed) {
      try {
        unmount(dir);
      } catch {
        // The bind mount itself failed: nothing to undo.
      }
      return { skip: failed };
    }
    return { undo: () => unmount(dir) };
  }
  chmodTree(dir, false);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return { undo: () => chmodTree(dir, true) };
  }
  chmodTree(dir, true);
  return { skip: "removing write permission did not make the folder read-only here" };
}

/** The run store's methods that write: what a full or read-only disk refuses. */
const RUN_STORE_WRITES: ReadonlySet<string> = new Set([
  "admit",
  "claim",
  "markQueued",
  "markDone",
  "markEnded",
  "saveDescription",
  "setCellImage",
  "touchWatched",
  "cancelUnwatched",
  "insertLinks",
  "publishLink",
  "unpublishLink",
  "insertUpload",
  "removeUnreferencedUploads",
  "insertComparison",
] satisfies (keyof RunStore)[]);
const BLOB_STORE_WRITES: ReadonlySet<string> = new Set(["put", "remove"] satisfies (keyof BlobStore)[]);

/** The error a refused write throws: `write` is the method (e.g. "setCellImage", or the blob store's "put"). */
export type Refusal = (write: string) => Error;

const enospc = (file: string) => Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: "ENOSPC", errno: -28, syscall: "write", path: file });
const erofs = (file: string) => Object.assign(new Error(`EROFS: read-only file system, open '${file}'`), { code: "EROFS", errno: -30, syscall: "open", path: file });
const TEMPORARY = "/tmp/penumbra-runs-x/files/d0/d0c4f1.4242.a1b2c3d4e5f6.tmp";

/** What SQLite and the file store throw on a full disk. */
export const diskFull: Refusal = (write) => (write === "put" ? unavailableError("full", enospc(TEMPORARY)) : new Database.SqliteError("database or disk is full", "SQLITE_FULL"));
/** What SQLite and the file store throw in a read-only data folder. */
export const readOnlyFolder: Refusal = (write) =>
  write === "put" ? unavailableError("read-only", erofs(TEMPORARY)) : new Database.SqliteError("attempt to write a readonly database", "SQLITE_READONLY");

/**
 * A disk that fills up (or turns read-only) on cue, around the stores openRunService opens (its
 * `storage` option): once broken, every write of either store is refused with what the real store
 * throws, and reads keep working, until it is repaired.
 */
export class FaultyDisk {
  private trigger: { readonly write: string | null; readonly refusal: Refusal; left: number } | null = null;
  private broken: Refusal | null = null;
  /** The refused writes, in order. */
  readonly refused: string[] = [];

  /** From now on, `count` more writes (of `write` only, when named) succeed, and from the next one on every write is refused. */
  breakAfter(count: number, write: string | null = null, refusal: Refusal = diskFull): void {
    this.trigger = { write, refusal, left: count };
    this.broken = null;
  }

  /** Room again (or writable again): every write succeeds. */
  repair(): void {
    this.trigger = null;
    this.broken = null;
  }

  readonly wrap = (opened: { store: RunStore; blobs: BlobStore }): { store: RunStore; blobs: BlobStore } => ({
    store: this.guard(opened.store, RUN_STORE_WRITES),
    blobs: this.guard(opened.blobs, BLOB_STORE_WRITES),
  });

  private check(write: string): void {
    const trigger = this.trigger;
    if (!this.broken && trigger && (trigger.write === null || trigger.write === write)) {
      if (trigger.left === 0) this.broken = trigger.refusal;
      else trigger.left -= 1;
    }
    if (this.broken) {
      this.refused.push(write);
      throw this.broken(write);
    }
  }

  private guard<T extends object>(target: T, writes: ReadonlySet<string>): T {
    return new Proxy(target, {
      get: (object, key) => {
        const value: unknown = Reflect.get(object, key);
        if (typeof value !== "function") return value;
        if (typeof key !== "string" || !writes.has(key)) return value.bind(object);
        return async (...args: unknown[]) => {
          this.check(key);
          return value.apply(object, args);
        };
      },
    });
  }
}

/** Every unhandled promise rejection in this process from now on, until `stop()`; vitest reports them too, this lets a test assert there were none. */
export function recordUnhandledRejections(): { readonly rejections: unknown[]; stop(): void } {
  const rejections: unknown[] = [];
  const record = (reason: unknown) => rejections.push(reason);
  process.on("unhandledRejection", record);
  return { rejections, stop: () => process.off("unhandledRejection", record) };
}

/** Why no folder can be made read-only here, or null when one can: tried on a scratch folder, which is removed again. */
export function whyNoReadOnlyFolder(): SkipReason {
  const scratch = mkdtempSync(path.join(tmpdir(), "penumbra-ro-probe-"));
  const made = makeReadOnly(scratch);
  if ("undo" in made) made.undo();
  rmSync(scratch, { recursive: true, force: true });
  return "skip" in made ? made.skip : null;
}
