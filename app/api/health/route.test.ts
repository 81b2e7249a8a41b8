import { describe, expect, it } from "vitest";
import type { Health, PresetInfo } from "@/lib/runs/index";
import { GET as presets } from "../presets/route";
import { call, useTestService } from "../test-support";
import { GET as health } from "./route";

useTestService({ PENUMBRA_QUEUE_LIMIT: "5" });

describe("GET /api/health and /api/presets", () => {
  it("reports the version, the queue and which provider each model of each preset runs on", async () => {
    const response = await call(health, "/api/health");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Health;
    expect(body).toMatchObject({ status: "ok", version: expect.stringMatching(/^\d+\.\d+\.\d+/), queue: { depth: 0, limit: 5, running: null } });
    expect(Object.keys(body.presets.shapes).sort()).toEqual(["adapterImage", "adapterText", "clipImage", "clipText", "promptEncoder", "unet", "vaeDecoder"]);
    expect(body.presets.shapes.unet.provider).toBe("cpu");
  });

  it("lists the presets with their defaults, limits and providers", async () => {
    const { presets: list } = (await (await call(presets, "/api/presets")).json()) as { presets: PresetInfo[] };
    const shapes = list.find((preset) => preset.name === "shapes")!;
    expect(shapes).toMatchObject({ dim: 64, imageSize: { width: 64, height: 64 }, limits: { maxRows: 9, maxCols: 8, maxCaptionLength: 300 } });
    expect(shapes.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(shapes.defaults.steps).toBeGreaterThan(0);
    expect(shapes.providers.unet.provider).toBe("cpu");
  });
});
