import { afterEach, describe, expect, it, vi } from "vitest";

const getRunService = vi.hoisted(() => vi.fn(async () => ({})));
vi.mock("./lib/runs/deployment", () => ({ getRunService }));

const { register } = await import("./instrumentation");
const runtime = process.env.NEXT_RUNTIME;

afterEach(() => {
  getRunService.mockClear();
  if (runtime === undefined) delete process.env.NEXT_RUNTIME;
  else process.env.NEXT_RUNTIME = runtime;
});

describe("register (instrumentation.ts)", () => {
  it("opens the run service when the Node.js server starts, so recovery and clean-up run before the first request", async () => {
    process.env.NEXT_RUNTIME = "nodejs";
    await register();
    expect(getRunService).toHaveBeenCalledTimes(1);
  });

  it("leaves the Edge runtime alone", async () => {
    process.env.NEXT_RUNTIME = "edge";
    await register();
    expect(getRunService).not.toHaveBeenCalled();
  });

  it("logs a service that cannot open instead of stopping the server", async () => {
    process.env.NEXT_RUNTIME = "nodejs";
    const failure = new Error("PENUMBRA_QUEUE_LIMIT must be a whole number");
    getRunService.mockRejectedValueOnce(failure);
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await expect(register()).resolves.toBeUndefined();
      expect(log).toHaveBeenCalledWith(expect.stringMatching(/did not start/), failure);
    } finally {
      log.mockRestore();
    }
  });
});
