/**
 * The compute floor `npm run bench` prints beside its ratio: the FLOPs of a grid's model calls, counted from the
 * ONNX graphs at the sizes each call ran with (models/export/flops.py), over a float32 matmul rate measured in the
 * same process with the same session options. No grid can run faster than that floor; how far above it the engine
 * runs says how much is left to gain, whatever the reference does on that machine.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { sessionOptions } from "../lib/engine/onnx";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// ─── a one-node MatMul model, written as protobuf bytes (field numbers from onnx.proto) ───

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
const bytesField = (number: number, bytes: readonly number[]) => [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
const intField = (number: number, value: number) => [...varint(number << 3), ...varint(value)];
const textField = (number: number, value: string) => bytesField(number, [...Buffer.from(value, "utf8")]);

const FLOAT = 1;
function squareFloatInfo(name: string, n: number): number[] {
  const dim = bytesField(1, intField(1, n));
  const tensorType = [...intField(1, FLOAT), ...bytesField(2, [...dim, ...dim])];
  return [...textField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

/** An ONNX model computing c = a · b for n×n float32 inputs a and b (opset 13, IR version 7). */
export function matmulModel(n: number): Uint8Array {
  const node = [...textField(1, "a"), ...textField(1, "b"), ...textField(2, "c"), ...textField(4, "MatMul")];
  const graph = [
    ...bytesField(1, node),
    ...textField(2, "matmul_peak"),
    ...bytesField(11, squareFloatInfo("a", n)),
    ...bytesField(11, squareFloatInfo("b", n)),
    ...bytesField(12, squareFloatInfo("c", n)),
  ];
  return Uint8Array.from([...intField(1, 7), ...bytesField(7, graph), ...bytesField(8, intField(2, 13))]);
}

export interface MatmulPeak {
  /** FLOP/s of the fastest of the timed products. */
  readonly flopsPerSecond: number;
  readonly n: number;
}

/**
 * A float32 n×n matmul on the CPU provider with the engine's session options (threads, spinning). One session and
 * one pair of inputs serve every measurement, so probing after each grid adds their memory to the process once.
 */
export class MatmulProbe {
  private constructor(
    readonly n: number,
    private readonly session: ort.InferenceSession,
    private readonly feeds: Record<string, ort.Tensor>,
  ) {}

  static async open(threads: number, spinning: boolean, n = 1024): Promise<MatmulProbe> {
    const session = await ort.InferenceSession.create(matmulModel(n), sessionOptions("cpu", threads, spinning));
    const values = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const probe = new MatmulProbe(n, session, { a: new ort.Tensor("float32", values, [n, n]), b: new ort.Tensor("float32", values, [n, n]) });
    await session.run(probe.feeds);
    return probe;
  }

  /**
   * The best of `repeats` products: a peak, since a product slowed by another process's burst says nothing about
   * what the cores can do, and the floor is to be a bound no grid can beat.
   */
  async measure(repeats = 8): Promise<MatmulPeak> {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < repeats; i++) {
      const started = performance.now();
      await this.session.run(this.feeds);
      best = Math.min(best, (performance.now() - started) / 1000);
    }
    return { flopsPerSecond: (2 * this.n ** 3) / best, n: this.n };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** One model call as the FLOP counter needs it: the graph's file and the size of each input it was fed. */
export interface CallSize {
  readonly file: string;
  readonly inputs: Readonly<Record<string, readonly number[]>>;
}

/** A call's identity for counting: calls of the same graph at the same sizes cost the same. */
export function callKey(call: CallSize): string {
  return JSON.stringify([call.file, Object.entries(call.inputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
}

/** FLOPs of each call, counted once per distinct call by one Python process (models/export/flops.py). */
export function countFlops(calls: readonly CallSize[]): number[] {
  const distinct = [...new Map(calls.map((call) => [callKey(call), call])).values()];
  const child = spawnSync("/usr/bin/python3", ["-m", "models.export.flops"], { cwd: REPO_ROOT, encoding: "utf8", input: JSON.stringify(distinct) });
  if (child.status !== 0) throw new Error(`the FLOP count failed (exit ${child.status}): ${child.stderr.trim().split("\n").at(-1)}`);
  const counted = JSON.parse(child.stdout) as { flops: number }[];
  const byKey = new Map(distinct.map((call, i) => [callKey(call), counted[i].flops]));
  return calls.map((call) => byKey.get(callKey(call)) as number);
}
