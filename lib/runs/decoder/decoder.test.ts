import { performance } from "node:perf_hooks";
import { afterAll, describe, expect, it } from "vitest";
import { type Engine, EngineError, openPreset, openPresetRules } from "../../engine/index";
import { toRunError } from "../errors";
import { recordUnhandledRejections } from "../testing";
import { sha256Hex } from "../ids";
import type { StoredRequest } from "../views";
import { type DecodeJob, InProcessDecoder, PresetOpenError, ThreadDecoder } from "./index";

const thread = new ThreadDecoder({ providers: ["cpu"] });
const inProcess = new InProcessDecoder((name) => openPreset(name, { providers: ["cpu"] }));
afterAll(() => thread.close());

async function job(jobId: string, overrides: Partial<StoredRequest> = {}): Promise<DecodeJob> {
  const rules = openPresetRules("shapes");
  const request = { ...rules.normalize({ input: { kind: "caption", text: "a red shape" }, plan: { kind: "geodesic", rows: 3 }, cols: 3, steps: 6 }), ...overrides };
  return { jobId, presetName: "shapes", presetDigest: rules.preset.digest, request: { ...request, input: { kind: "caption", text: "a red shape" } }, input: { kind: "caption", text: "a red shape" } };
}

/** Decodes every cell of the job, returning each cell's PNG sha256 by index and the progress seen. */
async function decodeAll(decoder: ThreadDecoder | InProcessDecoder, decodeJob: DecodeJob) {
  const planned = await decoder.plan(decodeJob);
  const images = new Map<number, string>();
  const active: number[][] = [];
  await decoder.decode(decodeJob.jobId, planned.cells.map((_, i) => i), {
    onCell: (index, png) => images.set(index, sha256Hex(png)),
    onProgress: (progress) => active.push([...progress.activeCells]),
  });
  decoder.release(decodeJob.jobId);
  return { planned, images, active };
}

describe("the decode thread", () => {
  it("plans and decodes exactly what the same core does in-process", async () => {
    const [there, here] = [await decodeAll(thread, await job("a")), await decodeAll(inProcess, await job("a"))];
    expect(there.planned.cells).toEqual(here.planned.cells);
    expect(there.planned.description).toEqual(here.planned.description);
    expect([...there.images.entries()].sort()).toEqual([...here.images.entries()].sort());
    expect(there.images.size).toBe(9);
    // The mean row leads on its own; progress names grid cells, not positions in the decoded subset.
    expect(there.active[0]).toEqual([0, 1, 2]);
    expect(new Set(there.active.flat())).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8]));
  });

  it("decodes a subset to the same images, naming the grid's cells", async () => {
    const whole = await decodeAll(thread, await job("whole"));
    const partial = await job("partial");
    await thread.plan(partial);
    const images = new Map<number, string>();
    await thread.decode("partial", [4, 8], { onCell: (index, png) => images.set(index, sha256Hex(png)) });
    thread.release("partial");
    expect([...images.entries()].sort()).toEqual([
      [4, whole.images.get(4)],
      [8, whole.images.get(8)],
    ]);
  });

  it("leaves the calling thread free while it decodes", async () => {
    // The largest grid: in-process, each UNet batch would hold this thread for tens of milliseconds.
    const decodeJob = await job("free", { plan: { kind: "geodesic", fractions: [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1], tail: 0.95 }, cols: 8, steps: 5 });
    const planned = await thread.plan(decodeJob);
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 2);
    const started = performance.now();
    await thread.decode("free", planned.cells.map((_, i) => i));
    const decodeMs = performance.now() - started;
    clearInterval(timer);
    thread.release("free");
    // Measured on 2 cores: ~0.45 ticks per ms here, ~0.04 with the same decode on this thread.
    expect(ticks).toBeGreaterThan(decodeMs / 10);
  });

  it("stops a decode when its signal aborts, handing over the cells finished before", async () => {
    const decodeJob = await job("cancel");
    const planned = await thread.plan(decodeJob);
    const controller = new AbortController();
    const cells: number[] = [];
    const decoding = thread.decode("cancel", planned.cells.map((_, i) => i), {
      signal: controller.signal,
      onProgress: ({ batch }) => {
        if (batch === 1) controller.abort();
      },
      onCell: (index) => cells.push(index),
    });
    await expect(decoding).rejects.toMatchObject({ name: "EngineError", code: "cancelled" });
    expect(cells.sort()).toEqual([0, 1, 2]);
    thread.release("cancel");
  });

  it("rebuilds the thread's errors as their own classes", async () => {
    const missing = { ...(await job("missing")), presetName: "no-such-preset" };
    const error = await thread.plan(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresetOpenError);
    expect((error as PresetOpenError).cause).toBeInstanceOf(EngineError);
    expect((error as PresetOpenError).cause).toMatchObject({ code: "not_found" });
    const changed = { ...(await job("changed")), presetDigest: "0".repeat(64) };
    await expect(thread.plan(changed)).rejects.toMatchObject({ name: "RunError", code: "conflict" });
  });
});

describe("the decoder core", () => {
  it("fails a decode whose cell cannot be encoded, after handing over the cells before it, with no unhandled rejection", async () => {
    const unhandled = recordUnhandledRejections();
    try {
      const real = await openPreset("shapes", { providers: ["cpu"] });
      const broken = Object.create(real) as Engine;
      broken.decodeCells = async (grid, settings, hooks = {}) => {
        const images = await real.decodeCells(grid, settings, {});
        // The second image comes out a byte short; the others are whole.
        images.forEach((image, i) => hooks.onCell?.(i, i === 1 ? { ...image, rgb: image.rgb.subarray(1) } : image));
        await new Promise((resolve) => setTimeout(resolve, 50));
        return images;
      };
      const decoder = new InProcessDecoder(async () => broken);
      const decodeJob = await job("unencodable");
      const planned = await decoder.plan(decodeJob);
      const cells: number[] = [];
      const error = await decoder.decode("unencodable", planned.cells.map((_, i) => i), { onCell: (index) => cells.push(index) }).catch((e: unknown) => e);
      // The server's fault (500, internal), not the request's, though the encoder's check calls it bad input.
      expect(error).toMatchObject({ name: "Error", message: expect.stringMatching(/^encoding cell 1 as PNG failed: .*bytes of RGB/) });
      expect(toRunError(error)).toMatchObject({ code: "internal", status: 500 });
      expect(cells).toEqual([0]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled.rejections).toEqual([]);
    } finally {
      unhandled.stop();
    }
  });
});
