/*
 * A data folder that cannot be written (a read-only mount, or no write permission): every read
 * still answers, every write answers 503 with a message that says why and names no path. A real
 * read-only folder: as root a read-only bind mount, else a folder without write permission; the
 * test skips, saying why, where neither can be made. lib/runs/disk-faults.test.ts injects the
 * same faults everywhere.
 */
import sharp from "sharp";
import { afterEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { closeRunService, type Run } from "@/lib/runs/index";
import { makeReadOnly, whyNoReadOnlyFolder } from "@/lib/runs/testing";
import { GET as gallery } from "./gallery/route";
import { GET as health } from "./health/route";
import { GET as getImage } from "./images/[sha256]/route";
import { GET as getRun } from "./runs/[id]/route";
import { GET as events } from "./runs/[id]/events/route";
import { POST as retry } from "./runs/[id]/retry/route";
import { POST as createRun } from "./runs/route";
import { call, errorOf, postJson, useTestService, waitForStatus } from "./test-support";
import { POST as upload } from "./uploads/route";

const { dataDir } = useTestService();
const READ_ONLY = "the server cannot store new data right now (its data folder is read-only); try again later";

const cannot = whyNoReadOnlyFolder();

const png = (background: string) => sharp({ create: { width: 16, height: 16, channels: 3, background } }).png().toBuffer();
const postPng = async (background: string) => call(upload, "/api/uploads", { method: "POST", headers: { "content-type": "image/png" }, body: new Uint8Array(await png(background)) });
const caption = (text: string) => ({ input: { kind: "caption", text }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 2 });

let log: MockInstance<typeof console.error> | undefined;
afterEach(() => log?.mockRestore());

describe("a read-only data folder", () => {
  it.skipIf(cannot !== null)(`serves every read and answers every write with 503 saying why${cannot ? ` (skipped: ${cannot})` : ""}`, async () => {
    const { run } = (await (await postJson(createRun, "/api/runs", caption("stored while writable"))).json()) as { run: Run };
    expect(await waitForStatus(run.id, ["done", "failed"])).toBe("done");
    const { upload: stored } = (await (await postPng("#3060c0")).json()) as { upload: { sha256: string } };
    // The server stops; the folder comes back read-only; the server starts again.
    await closeRunService();
    const made = makeReadOnly(dataDir);
    if (!("undo" in made)) throw new Error(made.skip);
    log = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const shown = await call(getRun, `/api/runs/${run.id}`, {}, { id: run.id });
      expect(shown.status).toBe(200);
      const { run: done } = (await shown.json()) as { run: Run };
      expect(done.status).toBe("done");
      expect((await call(getImage, "/", {}, { sha256: done.cells[0].image ?? "" })).status).toBe(200);
      expect((await call(getImage, "/", {}, { sha256: stored.sha256 })).status).toBe(200);
      expect((await call(gallery, "/api/gallery")).status).toBe(200);
      expect((await call(health, "/api/health")).status).toBe(200);
      const stream = await call(events, `/api/runs/${run.id}/events`, {}, { id: run.id });
      expect(stream.status).toBe(200);
      expect(await stream.text()).toMatch(/^event: snapshot\ndata: \{.*"status":"done"/);

      for (const refused of [await postJson(createRun, "/api/runs", caption("new while read-only")), await postPng("#c06030")]) {
        const error = await errorOf(refused);

        expect(error).toEqual({ status: 503, code: "unavailable", message: READ_ONLY });
        expect(error.message).not.toContain(dataDir);
      }
      // What the request gets wrong is still the client's: a done run cannot be retried.
      expect((await call(retry, "/", { method: "POST" }, { id: run.id })).status).toBe(409);
      expect(log.mock.calls.map((args) => args.map(String).join(" ")).join("\n")).toMatch(/readonly database|read-only file system/);
    } finally {
      await closeRunService();
      made.undo();
    }
  });
});
