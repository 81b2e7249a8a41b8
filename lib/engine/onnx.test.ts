import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { contractDims, MODEL_CONTRACT, MODEL_KEYS } from "./contract";
import { EngineError } from "./errors";
import { float16BitsToFloat32, float32ToFloat16Bits } from "./float16";
import { openModel, providerPreference, sessionOptions, threadCount, threadSpinning } from "./onnx";
import { loadPreset, resolvePresetDir } from "./preset";

const SHAPES_DIR = resolvePresetDir("shapes");
const preset = loadPreset(SHAPES_DIR);
const dims = contractDims(preset.config);
const CPU = { providers: ["cpu"] as const, threads: 2 };

interface Parity {
  clipText: { input_ids: number[]; text_embeds: number[] };
  clipImage: { pixel_values: number[]; image_embeds: number[] };
  promptEncoder: { input_ids: number[]; last_hidden_state_first_row: number[]; last_hidden_state_sum: number };
  vaeDecoder: { latent_sample: number[]; sample: number[] };
  unet: { sample: number[]; timestep: number; encoder_hidden_states: number[]; class_labels: number[]; out_sample: number[] };
}
const parity = JSON.parse(readFileSync(path.join(SHAPES_DIR, "torch-outputs.json"), "utf8")) as Parity;

/** Within 1e-3, absolute for values up to 1 and relative beyond. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(excess <= worst)) {
      worst = excess;
      worstAt = i;
    }
  }
  expect(worst, `worst at index ${worstAt}: ${actual[worstAt]} vs ${expected[worstAt]}`).toBeLessThanOrEqual(1e-3);
}

async function open(key: (typeof MODEL_KEYS)[number]) {
  return openModel(key, await preset.filePath(key), dims, CPU);
}

/** Runs `fn` with environment variable `name` unset. */
function withoutEnv<T>(name: string, fn: () => T): T {
  const saved = process.env[name];
  delete process.env[name];
  try {
    return fn();
  } finally {
    if (saved !== undefined) process.env[name] = saved;
  }
}

describe("provider and thread settings", () => {
  it("defaults to cuda then cpu, and always ends with cpu", () => {
    expect(withoutEnv("PENUMBRA_PROVIDERS", () => providerPreference())).toEqual(["cuda", "cpu"]);
    expect(providerPreference("webgpu")).toEqual(["webgpu", "cpu"]);
    expect(providerPreference(" CPU , cuda,cuda ")).toEqual(["cuda", "cpu"]);
    expect(providerPreference("")).toEqual(["cpu"]);
  });

  it("rejects an unknown provider by name", () => {
    expect(() => providerPreference("cuda,tpu")).toThrow(/unknown provider "tpu"/);
    // A bad setting is the server's fault, not the request's: the service answers it with a 500.
    expect(() => providerPreference("tpu")).toThrow(expect.objectContaining({ code: "configuration" }));
  });

  it("reads PENUMBRA_THREADS, defaulting to at most 4", () => {
    expect(threadCount("3")).toBe(3);
    const threads = withoutEnv("PENUMBRA_THREADS", () => threadCount());
    expect(threads).toBeGreaterThanOrEqual(1);
    expect(threads).toBeLessThanOrEqual(4);
    expect(() => threadCount("0")).toThrow(EngineError);
    expect(() => threadCount("0")).toThrow(expect.objectContaining({ code: "configuration" }));
    expect(() => threadCount("two")).toThrow(/PENUMBRA_THREADS/);
  });

  it("reads PENUMBRA_THREAD_SPINNING, defaulting to off", () => {
    expect(withoutEnv("PENUMBRA_THREAD_SPINNING", () => threadSpinning())).toBe(false);
    expect(threadSpinning("")).toBe(false);
    expect(threadSpinning("off")).toBe(false);
    expect(threadSpinning(" ON ")).toBe(true);
    expect(() => threadSpinning("1")).toThrow(expect.objectContaining({ code: "configuration" }));
    expect(() => threadSpinning("yes")).toThrow(/PENUMBRA_THREAD_SPINNING/);
  });

  it("builds session options with the threads and onnxruntime's spinning entry for each setting", () => {
    const entry = (spinning: boolean) => sessionOptions("cpu", 3, spinning).extra;
    expect(entry(false)).toEqual({ session: { intra_op: { allow_spinning: "0" } } });
    expect(entry(true)).toEqual({ session: { intra_op: { allow_spinning: "1" } } });
    expect(sessionOptions("cuda", 3, false)).toMatchObject({ executionProviders: ["cuda"], intraOpNumThreads: 3, interOpNumThreads: 1 });
  });
});

// ───── a hand-written float16 ONNX model that meets the adapter contract, to exercise run()'s conversions ─────

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const field = (number: number, bytes: number[]) => [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
const intField = (number: number, value: number) => [...varint(number << 3), ...varint(value)];
const text = (number: number, value: string) => field(number, [...Buffer.from(value, "utf8")]);

const FLOAT16 = 10;
function float16Info(name: string): number[] {
  const shape = [...field(1, text(2, "batch")), ...field(1, intField(1, 64))];
  return [...text(1, name), ...field(2, field(1, [...intField(1, FLOAT16), ...field(2, shape)]))];
}

/** An ONNX ModelProto (IR 8, opset 17): mu, one_over_alpha and beta are Identity copies of a float16 `embedding`. */
function float16AdapterModel(): Buffer {
  const outputs = ["mu", "one_over_alpha", "beta"];
  const graph = [
    ...outputs.flatMap((name) => field(1, [...text(1, "embedding"), ...text(2, name), ...text(4, "Identity")])),
    ...text(2, "float16_adapter"),
    ...field(11, float16Info("embedding")),
    ...outputs.flatMap((name) => field(12, float16Info(name))),
  ];
  return Buffer.from([...intField(1, 8), ...field(8, [...text(1, ""), ...intField(2, 17)]), ...field(7, graph)]);
}

describe("sessions", () => {
  it("opens every shapes model with the contract's tensor names on the requested provider", async () => {
    for (const key of MODEL_KEYS) {
      const model = await open(key);
      for (const spec of MODEL_CONTRACT[key].inputs) expect(model.input(spec.name).name).toBe(spec.name);
      expect(model.report).toEqual({ file: await preset.filePath(key), provider: "cpu", skipped: [] });
    }
  });

  it("fails with invalid_preset naming the file, the tensor and what was expected", async () => {
    const adapterFile = await preset.filePath("adapterText");
    const error = await openModel("unet", adapterFile, dims, CPU).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe("invalid_preset");
    expect((error as EngineError).message).toMatch(/adapter_text\.onnx \(unet\): missing input "sample" \(expected float32 or float16 with shape \[B,latentChannels=4,latentSide=16,latentSide=16\]\)/);
  });

  it("fails when a fixed dimension disagrees with the preset", async () => {
    const error = await openModel("clipText", await preset.filePath("clipText"), { ...dims, D: 32 }, CPU).catch((e: unknown) => e);
    expect((error as EngineError).code).toBe("invalid_preset");
    expect((error as EngineError).message).toContain('output "text_embeds" is float32 [batch,64], expected float32 or float16 with shape [B,D=32]');
  });

  it("fails with invalid_preset when onnxruntime cannot read the file", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "penumbra-onnx-")), "broken.onnx");
    writeFileSync(file, "not a model");
    const error = await openModel("unet", file, dims, CPU).catch((e: unknown) => e);
    expect((error as EngineError).code).toBe("invalid_preset");
    expect((error as EngineError).message).toContain("broken.onnx");
  });

  it("converts float32 to and from float16 as the model declares", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "penumbra-onnx-")), "float16.onnx");
    writeFileSync(file, float16AdapterModel());
    const model = await openModel("adapterText", file, dims, CPU);
    expect(model.input("embedding").type).toBe("float16");
    const values = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 7);
    values[0] = 70000; // beyond float16's range
    const out = await model.run({ embedding: { data: values, dims: [1, 64] } });
    expect(out.beta.data).toBeInstanceOf(Float32Array);
    expect(out.beta.dims).toEqual([1, 64]);
    expect(out.beta.data[0]).toBe(Infinity);
    for (let i = 1; i < 64; i++) expect(out.beta.data[i]).toBe(float16BitsToFloat32(float32ToFloat16Bits(values[i])));
  });

  it("runs a feed prepared once exactly as the same feed converted per run, and only on the input it was prepared for", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "penumbra-onnx-")), "float16.onnx");
    writeFileSync(file, float16AdapterModel());
    const model = await openModel("adapterText", file, dims, CPU);
    const feed = { data: Float32Array.from({ length: 64 }, (_, i) => (i - 20) / 3), dims: [1, 64] };
    const prepared = model.prepare("embedding", feed);
    expect(prepared.dims).toEqual([1, 64]);
    const plain = await model.run({ embedding: feed });
    for (let run = 0; run < 2; run++) {
      const out = await model.run({ embedding: prepared });
      expect(out.beta.data).toEqual(plain.beta.data);
    }
    const other = await open("adapterImage");
    await expect(other.run({ embedding: prepared })).rejects.toThrow(/input "embedding" was given a feed made for float16\.onnx \(adapterText\) input "embedding"/);
  });

  it("runs a reusable feed rewritten between runs exactly as fresh feeds, and converts a float16 output into the array given", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "penumbra-onnx-")), "float16.onnx");
    writeFileSync(file, float16AdapterModel());
    const model = await openModel("adapterText", file, dims, CPU);
    const feed = model.reusableFeed("embedding", [1, 64]);
    const into = new Float32Array(64);
    for (const shift of [0, 5, -9]) {
      const values = Float32Array.from({ length: 64 }, (_, i) => (i - 20 + shift) / 3);
      feed.values.set(values);
      const fresh = await model.run({ embedding: { data: values, dims: [1, 64] } });
      const reused = await model.run({ embedding: feed }, { beta: into });
      expect(reused.beta.data).toBe(into);
      expect(reused.beta.data).toEqual(fresh.beta.data);
      // The other outputs, not given an array, come back in arrays of their own.
      expect(reused.mu.data).not.toBe(into);
      expect(reused.mu.data).toEqual(fresh.mu.data);
    }
    // An array of the wrong length is not written to.
    const short = new Float32Array(3);
    expect((await model.run({ embedding: feed }, { beta: short })).beta.data).not.toBe(short);
    const other = await open("adapterImage");
    await expect(other.run({ embedding: feed })).rejects.toThrow(/was given a feed made for float16\.onnx \(adapterText\) input "embedding"/);
  });

  it("falls back down the provider list, saying once which provider runs and why", async () => {
    const messages: string[] = [];
    const options = { providers: ["cuda", "cpu"] as const, threads: 1, log: (message: string) => messages.push(message) };
    const folder = mkdtempSync(path.join(tmpdir(), "penumbra-onnx-"));
    const reports = [];
    for (const name of ["first.onnx", "second.onnx", "third.onnx"]) {
      writeFileSync(path.join(folder, name), float16AdapterModel());
      reports.push((await openModel("adapterText", path.join(folder, name), dims, options)).report);
    }
    // Asking for cpu alone is no choice: nothing to say.
    writeFileSync(path.join(folder, "cpu.onnx"), float16AdapterModel());
    await openModel("adapterText", path.join(folder, "cpu.onnx"), dims, { ...CPU, log: options.log });

    if (reports[0].provider === "cuda") {
      expect(messages).toEqual(["penumbra: running on cuda"]);
      return;
    }
    for (const report of reports) {
      expect(report.provider).toBe("cpu");
      // The report keeps onnxruntime's own words, which the run page shows.
      expect(report.skipped).toEqual([{ provider: "cuda", reason: reports[0].skipped[0].reason }]);
    }
    const [{ reason }] = reports[0].skipped;
    // onnxruntime's words when the CUDA provider's library, or a CUDA or cuDNN library it needs, does not load.
    if (reason === "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library") {
      expect(messages).toEqual(["penumbra: running on cpu (cuda: its libraries did not load, see docs/cuda.md)"]);
    } else {
      expect(messages).toEqual([`penumbra: running on cpu (cuda: ${reason})`]);
    }
  });

  it("feeds int32 ids to an int64 input and refuses non-integers", async () => {
    const clipText = await open("clipText");
    expect(clipText.input("input_ids").type).toBe("int64");
    const ids = Float32Array.from(parity.clipText.input_ids);
    ids[3] = 0.5;
    await expect(clipText.run({ input_ids: { data: ids, dims: [1, 77] } })).rejects.toThrow(/cannot feed 0.5 to an int64 input/);
  });
});

describe("parity with PyTorch (models/shapes/torch-outputs.json)", () => {
  it("clipText", async () => {
    const out = await (await open("clipText")).run({ input_ids: { data: Int32Array.from(parity.clipText.input_ids), dims: [1, 77] } });
    expectClose(out.text_embeds.data, parity.clipText.text_embeds);
  });

  it("clipImage", async () => {
    const out = await (await open("clipImage")).run({ pixel_values: { data: Float32Array.from(parity.clipImage.pixel_values), dims: [1, 3, 64, 64] } });
    expectClose(out.image_embeds.data, parity.clipImage.image_embeds);
  });

  it("promptEncoder", async () => {
    const out = await (await open("promptEncoder")).run({ input_ids: { data: Int32Array.from(parity.promptEncoder.input_ids), dims: [1, 77] } });
    const hidden = out.last_hidden_state;
    expect(hidden.dims).toEqual([1, 77, 64]);
    expectClose(hidden.data.subarray(0, 64), parity.promptEncoder.last_hidden_state_first_row);
    const sum = hidden.data.reduce((s, v) => s + v, 0);
    // 4928 values rounded to 6 digits in the reference: the sum may drift by their rounding.
    expect(Math.abs(sum - parity.promptEncoder.last_hidden_state_sum)).toBeLessThan(5e-3);
  });

  it("vaeDecoder", async () => {
    const out = await (await open("vaeDecoder")).run({ latent_sample: { data: Float32Array.from(parity.vaeDecoder.latent_sample), dims: [1, 4, 16, 16] } });
    expectClose(out.sample.data, parity.vaeDecoder.sample);
  });

  it("unet", async () => {
    const p = parity.unet;
    const out = await (await open("unet")).run({
      sample: { data: Float32Array.from(p.sample), dims: [1, 4, 16, 16] },
      timestep: { data: Int32Array.of(p.timestep), dims: [1] },
      encoder_hidden_states: { data: Float32Array.from(p.encoder_hidden_states), dims: [1, 77, 64] },
      class_labels: { data: Float32Array.from(p.class_labels), dims: [1, 128] },
    });
    expectClose(out.out_sample.data, p.out_sample);
  });
});
