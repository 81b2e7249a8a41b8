import { describe, expect, it } from "vitest";
import { type GalleryPage, MAX_GALLERY_PAGE, type Run } from "@/lib/runs/index";
import { DELETE as unpublish, POST as publish } from "../runs/[id]/publish/route";
import { POST as createRun } from "../runs/route";
import { call, errorOf, postJson, useTestService, waitForStatus } from "../test-support";
import { GET as gallery } from "./route";

useTestService();

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function publishedRun(text: string): Promise<Run> {
  const { run, creatorKey } = (await (await postJson(createRun, "/api/runs", { input: { kind: "caption", text }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 2 })).json()) as { run: Run; creatorKey: string };
  await waitForStatus(run.id, ["done"]);
  expect((await call(publish, "/", { method: "POST", headers: bearer(creatorKey) }, { id: run.id })).status).toBe(200);
  return run;
}

const page = async (query: string): Promise<GalleryPage> => (await (await call(gallery, `/api/gallery${query}`)).json()) as GalleryPage;

describe("GET /api/gallery", () => {
  it("lists only published runs, newest first, searches captions and pages by 12", async () => {
    const unlisted = await postJson(createRun, "/api/runs", { input: { kind: "caption", text: "an unlisted shape" }, cols: 1, steps: 2 });
    const { run: hidden } = (await unlisted.json()) as { run: Run };
    await waitForStatus(hidden.id, ["done"]);
    const captions = Array.from({ length: 13 }, (_, i) => `a red circle number ${i}`);
    const runs = [];
    for (const text of captions) runs.push(await publishedRun(text));
    const blue = await publishedRun("a blue 100% square_");

    const first = await page("");
    expect(first).toMatchObject({ total: 14, page: 1, pages: 2 });
    expect(first.runs).toHaveLength(12);
    expect(first.runs[0].id).toBe(blue.id);
    expect(first.runs.map((card) => card.id)).not.toContain(hidden.id);
    expect(first.runs[0]).toMatchObject({ caption: "a blue 100% square_", rowLabel: "λ = 1" });
    expect(first.runs[0].meanImage).toMatch(/^[0-9a-f]{64}$/);
    expect(first.runs[0].row).toHaveLength(2);
    expect((await page("?page=2")).runs.map((card) => card.id)).toEqual([runs[1].id, runs[0].id]);

    expect((await page("?q=BLUE")).runs.map((card) => card.id)).toEqual([blue.id]);
    // LIKE wildcards in the query are plain characters.
    expect((await page("?q=100%25")).total).toBe(1);
    expect((await page("?q=_")).total).toBe(1);
    expect((await page("?q=unlisted")).total).toBe(0);
  }, 120_000);

  it("refuses a page that is not a whole number in digits from 1 to the last page whose offset is exact", async () => {
    for (const bad of ["zero", "0", "1e20", "1e1", "0x10", "9007199254740993", String(MAX_GALLERY_PAGE + 1)]) {
      const error = await errorOf(await call(gallery, `/api/gallery?page=${encodeURIComponent(bad)}`));
      expect(error, bad).toMatchObject({ status: 400, code: "invalid_input", message: expect.stringContaining(`from 1 to ${MAX_GALLERY_PAGE}`) });
    }
    // The last page is an empty page, not an error: (page − 1) · 12 is still an exact integer.
    expect(await page(`?page=${MAX_GALLERY_PAGE}`)).toMatchObject({ runs: [], page: MAX_GALLERY_PAGE });
  });
});

describe("POST and DELETE /api/runs/:id/publish", () => {
  it("publish and unpublish for the bearer of the creator key the run's creation answered, and the permalink keeps working", async () => {
    const request = { input: { kind: "caption", text: "a lilac ring" }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 1, steps: 2 };
    const { run, creatorKey } = (await (await postJson(createRun, "/api/runs", request)).json()) as { run: Run; creatorKey: string };
    // Whoever asks for the same run gets a link and key of their own, which do not reach this link.
    const { creatorKey: othersKey } = (await (await postJson(createRun, "/api/runs", request)).json()) as { creatorKey: string };
    await waitForStatus(run.id, ["done"]);

    const publishWith = (authorization?: string) => call(publish, "/", { method: "POST", headers: authorization ? { authorization } : {} }, { id: run.id });
    const unpublishWith = (authorization?: string) => call(unpublish, "/", { method: "DELETE", headers: authorization ? { authorization } : {} }, { id: run.id });
    for (const authorization of [undefined, "Bearer wrong", creatorKey, `Bearer ${othersKey}`]) {
      for (const refused of [await publishWith(authorization), await unpublishWith(authorization)]) {
        expect(refused.status).toBe(403);
        expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "forbidden", message: expect.stringMatching(/creat/) });
      }
    }
    expect((await page("?q=lilac")).total).toBe(0);

    const published = await publishWith(`Bearer ${creatorKey}`);
    expect(published.status).toBe(200);
    expect(((await published.json()) as { run: Run }).run.publishedAt).not.toBeNull();
    expect((await page("?q=lilac")).runs.map((card) => card.id)).toEqual([run.id]);

    const done = await unpublishWith(`Bearer ${creatorKey}`);
    expect(done.status).toBe(200);
    expect(((await done.json()) as { run: Run }).run.publishedAt).toBeNull();
    expect((await page("?q=lilac")).total).toBe(0);
    expect((await unpublishWith(`Bearer ${creatorKey}`)).status).toBe(409);
  });
});
