// Checks an exported preset folder the way the engine reads it, for models/export/tests (run with tsx):
// preset.json against the engine's schema, every file's sha256, every ONNX file against the contract
// (opened by onnxruntime-node on the CPU), and one run of each model on zeros at batch B (the
// second argument, default 2). Prints one JSON object: { schemaIssues, hashMismatches, models: { key: { problem?, outputs? } } }.
import { readFileSync } from "node:fs";
import path from "node:path";
import { contractDims, MODEL_KEYS } from "../../../lib/engine/contract";
import { type Feed, openModel } from "../../../lib/engine/onnx";
import { type PresetConfig, presetSchema, sha256File } from "../../../lib/engine/preset";

const dir = path.resolve(process.argv[2] ?? ".");
const batch = Number(process.argv[3] ?? 2);
const raw = JSON.parse(readFileSync(path.join(dir, "preset.json"), "utf8")) as PresetConfig;
const parsed = presetSchema.safeParse(raw);
const schemaIssues = parsed.success ? [] : parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));

const hashMismatches: string[] = [];
for (const [key, entry] of Object.entries(raw.files ?? {})) {
  if ((await sha256File(path.join(dir, entry.path))) !== entry.sha256) hashMismatches.push(`files.${key}`);
}
for (const [file, digest] of Object.entries((raw.provenance as { fileHashes?: Record<string, string> }).fileHashes ?? {})) {
  if ((await sha256File(path.join(dir, file))) !== digest) hashMismatches.push(file);
}

// contractDims reads only the decoder-side fields, which an adapter-less preset already has.
const dims = contractDims(raw);
const zeros = (shape: number[]): Feed => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), dims: shape });
const ids = (batch: number, length: number, tokenizer: PresetConfig["tokenizer"]): Feed => {
  const data = new Int32Array(batch * length).fill(tokenizer.pad);
  for (let b = 0; b < batch; b++) [data[b * length], data[b * length + 1]] = [tokenizer.bos, tokenizer.eos];
  return { data, dims: [batch, length] };
};
const latent = [batch, dims.latentChannels, dims.latentSide, dims.latentSide];
const promptTokenizer = raw.promptTokenizer ?? raw.tokenizer;
type Shape = readonly (number | string)[];
const feeds: Record<string, (timestepShape: Shape, hiddenShape: Shape) => Record<string, Feed>> = {
  clipText: () => ({ input_ids: ids(batch, dims.contextLength, raw.tokenizer) }),
  clipImage: () => ({ pixel_values: zeros([batch, 3, dims.clipSize, dims.clipSize]) }),
  promptEncoder: () => ({ input_ids: ids(batch, dims.promptContextLength, promptTokenizer) }),
  unet: (timestepShape, hiddenShape) => ({
    sample: { data: Float32Array.from({ length: latent.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i)), dims: latent },
    // The engine's rule (lib/engine/unclip.ts): a scalar, [1], or one per batch row, as the export declares.
    timestep: timestepShape.length === 0 ? { data: Float32Array.of(501), dims: [] } : timestepShape[0] === 1 ? { data: Float32Array.of(501), dims: [1] } : { data: new Float32Array(batch).fill(501), dims: [batch] },
    encoder_hidden_states: zeros([batch, dims.promptContextLength, Number(hiddenShape[2])]),
    class_labels: zeros([batch, dims.twoD]),
  }),
  vaeDecoder: () => ({ latent_sample: zeros(latent) }),
  adapterText: () => ({ embedding: zeros([batch, dims.D]) }),
  adapterImage: () => ({ embedding: zeros([batch, dims.D]) }),
};

const models: Record<string, { problem?: string; outputs?: Record<string, { dims: readonly number[]; finite: boolean }> }> = {};
for (const key of MODEL_KEYS) {
  const entry = raw.files?.[key];
  if (!entry) continue;
  try {
    const session = await openModel(key, path.join(dir, entry.path), dims, { providers: ["cpu"], threads: 1, log: () => {} });
    const [timestepShape, hiddenShape] = key === "unet" ? [session.input("timestep").shape, session.input("encoder_hidden_states").shape] : [[], []];
    const outputs = await session.run(feeds[key](timestepShape, hiddenShape));
    models[key] = { outputs: Object.fromEntries(Object.entries(outputs).map(([name, out]) => [name, { dims: out.dims, finite: out.data.every(Number.isFinite) }])) };
  } catch (error) {
    models[key] = { problem: error instanceof Error ? error.message : String(error) };
  }
}
process.stdout.write(`${JSON.stringify({ schemaIssues, hashMismatches, models })}\n`);
