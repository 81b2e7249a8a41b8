import { describe, expect, it } from "vitest";
import type { Comparison } from "@/lib/runs/index";
import { call, errorOf, postJson, useTestService, waitForStatus } from "../test-support";
import { GET as getComparison } from "./[id]/route";
import { POST as compare } from "./route";

useTestService();

const settings = { plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 2, seed: 3 };
const captions = (...texts: string[]) => texts.map((text) => ({ kind: "caption", text }));

describe("POST /api/compare and GET /api/compare/:id", () => {
  it("runs every input with the same settings under a new comparison and links, with a creator key, and serves its permalink", async () => {
    const response = await postJson(compare, "/api/compare", { inputs: captions("a shape", "a large red circle at the top left"), ...settings });
    expect(response.status).toBe(201);
    const { comparison, creatorKey } = (await response.json()) as { comparison: Comparison; creatorKey: string };
    expect(comparison.id).toMatch(/^[0-9a-f]{24}$/);
    expect(response.headers.get("location")).toBe(`/compare/${comparison.id}`);
    expect(creatorKey).toMatch(/^[\w-]{32}$/);
    expect(comparison.runs).toHaveLength(2);
    for (const run of comparison.runs) {
      expect(run.request).toMatchObject({ seed: 3, cols: 2, steps: 2, plan: { kind: "interpolate", lambdas: [0, 1] } });
      expect(await waitForStatus(run.id, ["done", "failed"])).toBe("done");
    }
    // The same request again is another comparison of other links, to the same decoded runs.
    const again = await postJson(compare, "/api/compare", { inputs: captions("a shape", "a large red circle at the top left"), ...settings });
    expect(again.status).toBe(201);
    const { comparison: second } = (await again.json()) as { comparison: Comparison };
    expect(second.id).not.toBe(comparison.id);
    expect(second.runs.map((run) => run.status)).toEqual(["done", "done"]);
    const read = await call(getComparison, "/", {}, { id: comparison.id });
    const { comparison: stored } = (await read.json()) as { comparison: Comparison };
    expect(stored.runs.map((run) => run.status)).toEqual(["done", "done"]);
    // The vaguer caption is the more uncertain one.
    expect(stored.runs[0].description!.uncertainty).toBeGreaterThan(stored.runs[1].description!.uncertainty);
  });

  it.each([
    ["one input", { inputs: captions("a shape") }],
    ["five inputs", { inputs: captions("a", "b", "c", "d", "e") }],
    ["an empty caption among them", { inputs: captions("a shape", "") }],
  ])("refuses %s with 400", async (_name, body) => {
    const error = await errorOf(await postJson(compare, "/api/compare", { ...body, ...settings }));
    expect(error).toMatchObject({ status: 400, code: "invalid_input" });
  });

  it("answers 404 for an unknown comparison", async () => {
    expect(await errorOf(await call(getComparison, "/", {}, { id: "000000000000" }))).toMatchObject({ status: 404, code: "not_found" });
  });
});
