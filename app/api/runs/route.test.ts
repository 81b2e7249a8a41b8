import Database from "better-sqlite3";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readPngText } from "@/lib/engine/index";
import { RUN_KEY } from "@/lib/record";
import { closeRunService, type Run } from "@/lib/runs/index";
import { readZip } from "@/lib/runs/testing";
import { GET as getImage } from "../images/[sha256]/route";
import { call, errorOf, postJson, useTestService, waitForStatus } from "../test-support";
import { GET as getCells } from "./[id]/cells.zip/route";
import { GET as getEvents } from "./[id]/events/route";
import { GET as getGrid } from "./[id]/grid.png/route";
import { POST as publish } from "./[id]/publish/route";
import { POST as retry } from "./[id]/retry/route";
import { GET as getRun } from "./[id]/route";
import { POST as createRun } from "./route";

const { dataDir } = useTestService({ PENUMBRA_QUEUE_LIMIT: "2" });

const small = { plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 2 };
const caption = (text: string, extra: Record<string, unknown> = {}) => ({ input: { kind: "caption", text }, ...small, ...extra });

async function createdWithKey(body: unknown): Promise<{ run: Run; creatorKey: string }> {
  const response = await postJson(createRun, "/api/runs", body);
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as { run: Run; creatorKey: string };
}

const created = async (body: unknown): Promise<Run> => (await createdWithKey(body)).run;
const withKey = (key: string): RequestInit => ({ method: "POST", headers: { Authorization: `Bearer ${key}` } });

async function runOf(id: string): Promise<Run> {
  return ((await (await call(getRun, `/api/runs/${id}`, {}, { id })).json()) as { run: Run }).run;
}

/** Reads a server-sent event stream to its end: the events' names and data in order. */
async function readEvents(response: Response): Promise<{ event: string; data: any }[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("event:"))
    .map((block) => {
      const [eventLine, dataLine] = block.split("\n");
      return { event: eventLine.slice("event: ".length), data: JSON.parse(dataLine.slice("data: ".length)) };
    });
}

describe("POST /api/runs", () => {
  it("answers every request with a new link (201) and its creator key; the same request shares one decode", async () => {
    const response = await postJson(createRun, "/api/runs", caption("a red shape"));
    expect(response.status).toBe(201);
    const { run, creatorKey } = (await response.json()) as { run: Run; creatorKey: string };
    expect(run.id).toMatch(/^[0-9a-f]{24}$/);
    expect(response.headers.get("location")).toBe(`/runs/${run.id}`);
    expect(creatorKey).toMatch(/^[\w-]{32}$/);
    expect(["queued", "running"]).toContain(run.status);
    // The defaults spelled out give the same request: another link to the same decode.
    const again = await created(caption("a red shape", { seed: 0, preset: "shapes" }));
    expect(again.id).not.toBe(run.id);
    expect(await waitForStatus(run.id, ["done", "failed"])).toBe("done");
    expect(await runOf(again.id)).toEqual({ ...(await runOf(run.id)), id: again.id });
  });

  it("describes each run with its decoder-side metrics and says when the input is outside what the preset knows", async () => {
    const outside = await created(caption("a small blue star on the right", { plan: { kind: "geodesic", rows: 2 } }));
    const inside = await created(caption("a small blue circle on the right", { plan: { kind: "geodesic", rows: 2 } }));
    for (const run of [outside, inside]) expect(await waitForStatus(run.id, ["done", "failed"])).toBe("done");
    const [flagged, known] = [await runOf(outside.id), await runOf(inside.id)];
    expect(flagged.description?.outOfDistribution).toMatchObject({ flagged: true, unknownWords: ["star"] });
    expect(flagged.description?.outOfDistribution?.reasons[0]).toBe("1 word the preset's caption corpus never contained: “star”.");
    expect(known.description?.outOfDistribution).toEqual({ flagged: false, reasons: [], unknownWords: [] });
    for (const run of [flagged, known]) {
      expect(Number.isFinite(run.description?.logUncertainty)).toBe(true);
      expect(run.description?.epistemic?.percentile).toBeGreaterThanOrEqual(0);
      const [mean, tail] = [run.cells[0], run.cells.at(-1)!];
      expect(mean).toMatchObject({ decoderAngle: 0, decoderQuantile: 0, angleTarget: 0 });
      expect(tail.angleTarget).toBeCloseTo(run.description!.decoder!.tailAngle, 9);
    }
    expect(flagged.description!.epistemic!.score).toBeGreaterThan(known.description!.epistemic!.score);
  });

  it("gives a different seed a different id", async () => {
    const a = await created(caption("a blue shape", { seed: 1 }));
    const b = await created(caption("a blue shape", { seed: 2 }));
    expect(a.id).not.toBe(b.id);
    await waitForStatus(b.id, ["done"]);
  });

  it.each([
    ["an empty caption", caption("   "), /caption is empty/],
    ["a caption over the preset's limit", caption("x".repeat(301)), /longer than 300 characters/],
    ["a caption of zero-width characters", caption("\u200d\ufeff\u2060"), /caption is empty: it needs at least one visible character/],
    ["a caption with a NUL", caption("a red\u0000 shape"), /caption contains the control character U\+0000; only tab and newline/],
    ["a prompt of zero-width spaces", caption("a shape", { prompt: "\u200b\u200b" }), /prompt is empty/],
    ["too many columns", caption("a shape", { cols: 99 }), /cols/],
    ["too many steps", caption("a shape", { steps: 1000 }), /steps/],
    ["a guidance scale of 1e308", caption("a shape", { guidanceScale: 1e308 }), /guidanceScale: must be a number from 0 to 20, got 1e\+308/],
    ["a lambda of 1e308", caption("a shape", { plan: { kind: "interpolate", lambdas: [0, 1e308] } }), /plan\.lambdas\.1: must be a number from 0 to 10, got 1e\+308/],
    ["an unknown scheduler", caption("a shape", { scheduler: "euler" }), /scheduler/],
    ["an unknown preset", caption("a shape", { preset: "nope" }), /nope/],
    ["an upload that was never made", { input: { kind: "image", upload: "0".repeat(64) } }, /upload/],
    ["no input", { cols: 2 }, /input/],
  ])("refuses %s with 400 and says what is allowed", async (_name, body, message) => {
    const error = await errorOf(await postJson(createRun, "/api/runs", body));
    expect(error).toMatchObject({ status: 400, code: "invalid_input" });
    expect(error.message).toMatch(message);
  });

  it("refuses a body that is not JSON (400), not declared as JSON (415) or too large (413)", async () => {
    const json = { "content-type": "application/json" };
    expect(await errorOf(await call(createRun, "/api/runs", { method: "POST", headers: json, body: "{nope" }))).toMatchObject({ status: 400, code: "invalid_input" });
    expect(await errorOf(await call(createRun, "/api/runs", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }))).toMatchObject({
      status: 415,
      code: "unsupported_media_type",
    });
    const huge = JSON.stringify(caption("a shape", { prompt: "x".repeat(100_000) }));
    expect(await errorOf(await call(createRun, "/api/runs", { method: "POST", headers: json, body: huge }))).toMatchObject({ status: 413, code: "payload_too_large" });
  });

  it("reads a body as JSON only when declared application/json (charset utf-8 at most), and only as strict UTF-8 without a BOM; nothing of a refused body is stored", async () => {
    const body = (text: string) => JSON.stringify(caption(text));
    const post = (contentType: string | null, bytes: string | Uint8Array<ArrayBuffer>) =>
      call(createRun, "/api/runs", { method: "POST", headers: contentType === null ? {} : { "content-type": contentType }, body: bytes });
    for (const type of ["application/jsonp", "application/json; charset=utf-16", "application/json; charset=latin1", "application/json-seq", "text/json", "application/json; boundary=x", null]) {
      const error = await errorOf(await post(type, body("a declared shape")));
      expect(error, String(type)).toMatchObject({ status: 415, code: "unsupported_media_type", message: expect.stringContaining("application/json (optionally with charset=utf-8") });
    }
    const [prefix, suffix] = body("a @ shape").split("@");
    const encode = (text: string) => new TextEncoder().encode(text);
    const withInvalidByte = new Uint8Array([...encode(prefix), 0xff, ...encode(suffix)]);
    expect(await errorOf(await post("application/json", withInvalidByte))).toMatchObject({ status: 400, code: "invalid_input", message: expect.stringMatching(/not valid UTF-8/) });
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...encode(body("a marked shape"))]);
    expect(await errorOf(await post("application/json", withBom))).toMatchObject({ status: 400, code: "invalid_input", message: expect.stringMatching(/byte order mark/) });

    // Each refused body, sent right, is a new run (201): none of them was stored, and U+FFFD never stood in for the invalid byte.
    for (const [type, bytes] of [
      ["application/json", `${prefix}\ufffd${suffix}`],
      ['Application/JSON; Charset="UTF-8"', body("a declared shape")],
      ["application/json;charset=utf-8", body("a marked shape")],
    ]) {
      const response = await post(type, bytes);
      expect(response.status, await response.clone().text()).toBe(201);
      await waitForStatus(((await response.json()) as { run: Run }).run.id, ["done"]);
    }
  });

  it("answers 429 with Retry-After when the queue is full, and stores nothing for the refused run", async () => {
    // The queue holds 2 waiting runs (plus the one decoding); 5×4 grids at 20 steps keep it busy for a moment.
    const busy = (seed: number) => caption("an object", { plan: { kind: "interpolate", rows: 5 }, cols: 4, steps: 20, seed });
    const accepted: string[] = [];
    let refused: Response | undefined;
    for (let seed = 10; seed < 16 && !refused; seed++) {
      const response = await postJson(createRun, "/api/runs", busy(seed));
      if (response.status === 201) accepted.push(((await response.json()) as { run: Run }).run.id);
      else refused = response;
    }
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    expect(refused).toBeDefined();
    expect(await errorOf(refused!.clone())).toMatchObject({ status: 429, code: "queue_full" });
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    for (const id of accepted) await waitForStatus(id, ["done"]);
    // With room again the refused request is new (201), so nothing of it was stored.
    const again = await postJson(createRun, "/api/runs", busy(10 + accepted.length));
    expect(again.status).toBe(201);
    await waitForStatus(((await again.json()) as { run: Run }).run.id, ["done"]);
  }, 120_000);
});

describe("a run's endpoints", () => {
  it("streams a snapshot, progress, every cell and the final status, then serves its images, grid and zip", async () => {
    const run = await created(caption("a green square", { seed: 5 }));
    const events = await readEvents(await call(getEvents, `/api/runs/${run.id}/events`, {}, { id: run.id }));
    expect(events[0].event).toBe("snapshot");
    expect(events.some((e) => e.event === "progress")).toBe(true);
    const cells = events.filter((e) => e.event === "cell").map((e) => e.data.index);
    expect([...cells].sort()).toEqual([0, 1, 2, 3]);
    expect(events.at(-1)).toMatchObject({ event: "status", data: { status: "done", error: null } });

    const done = await runOf(run.id);
    expect(done.cells).toHaveLength(4);
    for (const cell of done.cells) {
      const image = await call(getImage, `/api/images/${cell.image}`, {}, { sha256: cell.image! });
      expect(image.headers.get("content-type")).toBe("image/png");
      expect(image.headers.get("cache-control")).toContain("immutable");
      expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }

    const grid = await call(getGrid, `/api/runs/${run.id}/grid.png`, {}, { id: run.id });
    expect(grid.status).toBe(200);
    const record = JSON.parse(readPngText(Buffer.from(await grid.arrayBuffer()))[RUN_KEY]);
    expect(record).toMatchObject({ id: run.id, preset: { name: "shapes", digest: run.preset.digest }, request: { seed: 5, input: { text: "a green square" } } });
    expect(record.providers.unet.provider).toBe("cpu");

    const zip = readZip(Buffer.from(await (await call(getCells, `/api/runs/${run.id}/cells.zip`, {}, { id: run.id })).arrayBuffer()));
    expect(zip.map((entry) => entry.name).sort()).toEqual(["row0-sample1.png", "row0-sample2.png", "row1-sample1.png", "row1-sample2.png", "run.json"]);

    // A finished run's stream is just its snapshot.
    const replay = await readEvents(await call(getEvents, `/api/runs/${run.id}/events`, {}, { id: run.id }));
    expect(replay.map((e) => e.event)).toEqual(["snapshot"]);
  });

  it("answers 404 for unknown runs and images, and refuses image names that are not a sha256", async () => {
    for (const handler of [getRun, getGrid, getCells, getEvents]) {
      expect(await errorOf(await call(handler, "/api/runs/000000000000", {}, { id: "000000000000" }))).toMatchObject({ status: 404, code: "not_found" });
    }
    expect(await errorOf(await call(publish, "/api/runs/x", { method: "POST" }, { id: "000000000000" }))).toMatchObject({ status: 404 });
    expect((await call(getImage, "/api/images/x", {}, { sha256: "f".repeat(64) })).status).toBe(404);
    expect(await errorOf(await call(getImage, "/api/images/x", {}, { sha256: "../penumbra.db" }))).toMatchObject({ status: 400, code: "invalid_input", message: expect.stringMatching(/64 lowercase hex digits/) });
  });

  it("answers ids that are not ids, such as ../../etc (/api/runs/..%2F..%2Fetc), with a JSON 404 that says what an id is", async () => {
    for (const id of ["../../etc", "..", "000000000000/../x", "ABCDEF012345", "0".repeat(13)]) {
      for (const handler of [getRun, getGrid, getCells, getEvents]) {
        expect(await errorOf(await call(handler, `/api/runs/${encodeURIComponent(id)}`, {}, { id }))).toMatchObject({ status: 404, code: "not_found", message: `${JSON.stringify(id)} is not an id; ids are 24 lowercase hex digits (12 in older links)` });
      }
      for (const handler of [publish, retry]) expect(await errorOf(await call(handler, "/", { method: "POST" }, { id }))).toMatchObject({ status: 404, message: expect.stringMatching(/24 lowercase hex digits/) });
    }
  });

  it("refuses exports, publishing and retrying out of turn with 409", async () => {
    const { run, creatorKey } = await createdWithKey(caption("a small yellow triangle", { steps: 20, plan: { kind: "interpolate", rows: 5 }, cols: 4 }));
    expect(await errorOf(await call(getGrid, "/", {}, { id: run.id }))).toMatchObject({ status: 409, code: "conflict" });
    expect(await errorOf(await call(getCells, "/", {}, { id: run.id }))).toMatchObject({ status: 409, code: "conflict" });
    expect(await errorOf(await call(publish, "/", withKey(creatorKey), { id: run.id }))).toMatchObject({ status: 409, code: "conflict" });
    await waitForStatus(run.id, ["done"]);
    expect(await errorOf(await call(retry, "/", { method: "POST" }, { id: run.id }))).toMatchObject({ status: 409, code: "conflict" });
    // Only the creator publishes.
    expect(await errorOf(await call(publish, "/", { method: "POST" }, { id: run.id }))).toMatchObject({ status: 403, code: "forbidden" });
    const published = ((await (await call(publish, "/", withKey(creatorKey), { id: run.id })).json()) as { run: Run }).run;
    expect(published.publishedAt).not.toBeNull();
  }, 60_000);

  it("resolves a run left running by a stopped server on start-up, and a failed run can be retried", async () => {
    const { id } = await created(caption("a purple circle", { seed: 9 }));
    await waitForStatus(id, ["done"]);
    const uninterrupted = await runOf(id);
    await closeRunService();
    // A crash mid-run: the database says running, and half the images never got written.
    const db = new Database(path.join(dataDir, "penumbra.db"));
    const stored = db.prepare("SELECT run_id FROM links WHERE id = ?").pluck().get(id);
    db.prepare("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?").run(stored);
    db.prepare("UPDATE cells SET image = NULL WHERE run_id = ? AND idx >= 2").run(stored);
    db.close();

    const recovered = await runOf(id); // the first request starts a new service, which recovers
    expect(["queued", "running", "done"]).toContain(recovered.status);
    expect(await waitForStatus(id, ["done", "failed"])).toBe("done");
    // The resumed run decodes only the missing cells, and they come out the same.
    expect((await runOf(id)).cells.map((cell) => cell.image)).toEqual(uninterrupted.cells.map((cell) => cell.image));

    await closeRunService();
    const broken = new Database(path.join(dataDir, "penumbra.db"));
    broken.prepare("UPDATE runs SET status = 'failed', error = 'the decoder ran out of memory' WHERE id = ?").run(stored);
    broken.close();
    expect(await runOf(id)).toMatchObject({ status: "failed", error: "the decoder ran out of memory" });
    const retried = await call(retry, "/", { method: "POST" }, { id });
    expect(retried.status).toBe(200);
    expect(await waitForStatus(id, ["done", "failed"])).toBe("done");
  }, 60_000);
});
