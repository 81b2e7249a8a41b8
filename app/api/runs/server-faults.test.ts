/*
 * Server faults (a corrupt preset, a bad setting in the environment) answer 500 with a safe
 * message that names the kind of fault and sends the operator to the server log, which gets the
 * details; what the request got wrong still answers 4xx with the specific message.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { closeRunService, type Run } from "@/lib/runs/index";
import { GET as health } from "../health/route";
import { call, errorOf, postJson, useTestService, waitForStatus } from "../test-support";
import { GET as getRun } from "./[id]/route";
import { POST as createRun } from "./route";

const { dataDir } = useTestService();

const SHAPES = path.join(__dirname, "..", "..", "..", "models", "shapes");
const modelsDir = mkdtempSync(path.join(tmpdir(), "penumbra-faulty-models-"));
// A copy of shapes without its training leftovers, with one byte of a model file changed.
cpSync(SHAPES, path.join(modelsDir, "shapes"), { recursive: true, filter: (source) => !/[\\/](torch|report)$/.test(source) });
const corrupted = path.join(modelsDir, "shapes", "prompt_encoder.onnx");
const bytes = readFileSync(corrupted);
bytes[bytes.length - 1] ^= 0xff;
writeFileSync(corrupted, bytes);
// A preset whose preset.json fails its schema.
mkdirSync(path.join(modelsDir, "broken"));
writeFileSync(path.join(modelsDir, "broken", "preset.json"), JSON.stringify({ name: "broken", files: "none" }));
afterAll(() => rmSync(modelsDir, { recursive: true, force: true }));

const caption = (extra: Record<string, unknown> = {}) => ({ input: { kind: "caption", text: "a red shape" }, cols: 2, steps: 2, ...extra });
const SETTINGS = ["PENUMBRA_MODELS_DIR", "PENUMBRA_PROVIDERS", "PENUMBRA_QUEUE_LIMIT"] as const;
const saved = Object.fromEntries(SETTINGS.map((name) => [name, process.env[name]]));
let log: MockInstance<typeof console.error>;

beforeEach(async () => {
  // Each test's service reads the environment it sets.
  await closeRunService();
  log = vi.spyOn(console, "error").mockImplementation(() => {});
});

afterEach(async () => {
  await closeRunService();
  log.mockRestore();
  for (const name of SETTINGS) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

/** What the server log got, as one string. */
function logged(): string {
  return log.mock.calls.map((args) => args.map((arg) => (arg instanceof Error ? `${arg.message} ${String((arg as { cause?: unknown }).cause ?? "")}` : String(arg))).join(" ")).join("\n");
}

function expectNoServerPath(message: string) {
  for (const dir of [modelsDir, dataDir, SHAPES, tmpdir()]) expect(message).not.toContain(dir);
  expect(message).not.toMatch(/(^|[\s"'(])\/[A-Za-z0-9_.-]+\//);
}

describe("server faults are 500s with a safe message", () => {
  it("a model file whose sha256 no longer matches preset.json", async () => {
    process.env.PENUMBRA_MODELS_DIR = modelsDir;
    // Admission reads only preset.json; the models are checked where they are opened, by the run's decoder.
    const created = await postJson(createRun, "/api/runs", caption());
    expect(created.status).toBe(201);
    const { run } = (await created.json()) as { run: Run };
    expect(await waitForStatus(run.id, ["done", "failed"])).toBe("failed");
    const failed = (await (await call(getRun, `/api/runs/${run.id}`, {}, { id: run.id })).json()) as { run: Run };
    expect(failed.run.error).toBe('the server\'s preset "shapes" failed its checks; see the server log');
    expectNoServerPath(failed.run.error ?? "");
    expect(log).toHaveBeenCalledTimes(1);
    expect(logged()).toContain(corrupted);
    expect(logged()).toMatch(/sha256/);
  });

  it("a preset.json that fails its schema", async () => {
    process.env.PENUMBRA_MODELS_DIR = modelsDir;
    const error = await errorOf(await postJson(createRun, "/api/runs", caption({ preset: "broken" })));
    expect(error).toMatchObject({ status: 500, code: "invalid_preset" });
    expect(error.message).toMatch(/preset "broken" failed its checks; see the server log/);
    expectNoServerPath(error.message);
    expect(logged()).toContain(path.join(modelsDir, "broken", "preset.json"));
  });

  it("an unknown provider in PENUMBRA_PROVIDERS", async () => {
    process.env.PENUMBRA_PROVIDERS = "tpu";
    const error = await errorOf(await call(health, "/api/health"));
    expect(error).toMatchObject({ status: 500, code: "configuration" });
    expect(error.message).toMatch(/PENUMBRA_PROVIDERS/);
    expect(error.message).toMatch(/see the server log/);
    expect(error.message).not.toMatch(/tpu/);
    expect(logged()).toMatch(/unknown provider "tpu"/);
  });

  it("a service setting read at start-up that is not a number", async () => {
    process.env.PENUMBRA_QUEUE_LIMIT = "lots";
    for (const response of [await call(health, "/api/health"), await postJson(createRun, "/api/runs", caption())]) {
      const error = await errorOf(response);
      expect(error).toMatchObject({ status: 500, code: "configuration" });
      expect(error.message).toMatch(/PENUMBRA_QUEUE_LIMIT/);
      expect(error.message).not.toMatch(/lots/);
    }
    expect(logged()).toMatch(/PENUMBRA_QUEUE_LIMIT must be a whole number ≥ 0, got "lots"/);
  });
});

describe("what the request got wrong stays 4xx", () => {
  it("an unknown preset named by the client is 400, a bad setting 400, an unknown run 404", async () => {
    const unknown = await errorOf(await postJson(createRun, "/api/runs", caption({ preset: "nope" })));
    expect(unknown).toMatchObject({ status: 400, code: "invalid_input" });
    expect(unknown.message).toMatch(/unknown preset "nope"; available: .*shapes/);
    expect(await errorOf(await postJson(createRun, "/api/runs", caption({ cols: 99 })))).toMatchObject({ status: 400, code: "invalid_input" });
    expect(await errorOf(await call(getRun, "/api/runs/0123456789ab", {}, { id: "0123456789ab" }))).toMatchObject({ status: 404, code: "not_found" });
    expect(log).not.toHaveBeenCalled();
  });
});
