// Runs one ONNX graph on onnxruntime-node's CPU provider for models/export/onnx_runner.py, where
// Python has no onnxruntime (this repository's machines install only Debian's torch and onnx).
// Reads a JSON request on stdin: { model, feeds: { name: { dtype, dims, file } }, outputDir };
// writes each output's raw bytes to outputDir/<i>.bin and prints { outputs: { name: { dtype, dims, file } }, runMs, peakRssBytes }
// (the run's wall time, and the process's peak resident memory by then).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import ort from "onnxruntime-node";

type DType = "float32" | "float16" | "int64" | "int32";
interface TensorFile {
  readonly dtype: DType;
  readonly dims: number[];
  readonly file: string;
}

const ARRAYS = { float32: Float32Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array } as const;

function readTensor({ dtype, dims, file }: TensorFile): ort.Tensor {
  const bytes = readFileSync(file);
  const Array = ARRAYS[dtype];
  const data = new Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return new ort.Tensor(dtype, data as never, dims);
}

const request = JSON.parse(readFileSync(0, "utf8")) as { model: string; feeds: Record<string, TensorFile>; outputDir: string };
const session = await ort.InferenceSession.create(request.model, { executionProviders: ["cpu"], graphOptimizationLevel: "all" });
const started = performance.now();
const results = await session.run(Object.fromEntries(Object.entries(request.feeds).map(([name, tensor]) => [name, readTensor(tensor)])));
const outputs: Record<string, TensorFile> = {};
Object.entries(results).forEach(([name, tensor], i) => {
  const file = path.join(request.outputDir, `${i}.bin`);
  const data = tensor.data as ArrayBufferView;
  writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  outputs[name] = { dtype: tensor.type as DType, dims: [...tensor.dims], file };
});
const runMs = performance.now() - started;
process.stdout.write(`${JSON.stringify({ outputs, runMs, peakRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
