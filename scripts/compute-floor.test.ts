import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { callKey, countFlops, MatmulProbe, matmulModel } from "./compute-floor";

describe("compute floor", () => {
  it("writes a MatMul model that onnxruntime runs as a matrix product", async () => {
    const session = await ort.InferenceSession.create(matmulModel(2));
    const a = new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const b = new ort.Tensor("float32", Float32Array.from([5, 6, 7, 8]), [2, 2]);
    const { c } = await session.run({ a, b });
    expect(c.dims).toEqual([2, 2]);
    expect([...(c.data as Float32Array)]).toEqual([19, 22, 43, 50]);
    await session.release();
  });

  it("counts that model's FLOPs as 2·n³, the figure the peak divides by, once per distinct call", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "penumbra-floor-"));
    const file = (n: number) => {
      const location = path.join(dir, `matmul-${n}.onnx`);
      writeFileSync(location, matmulModel(n));
      return location;
    };
    const three = { file: file(3), inputs: { a: [3, 3], b: [3, 3] } };
    const five = { file: file(5), inputs: { b: [5, 5], a: [5, 5] } };
    expect(countFlops([three, five, three])).toEqual([2 * 3 ** 3, 2 * 5 ** 3, 2 * 3 ** 3]);
  });

  it("keys a call by its file and input sizes, whatever order the inputs came in", () => {
    expect(callKey({ file: "u.onnx", inputs: { a: [1], b: [2] } })).toBe(callKey({ file: "u.onnx", inputs: { b: [2], a: [1] } }));
    expect(callKey({ file: "u.onnx", inputs: { a: [1] } })).not.toBe(callKey({ file: "u.onnx", inputs: { a: [2] } }));
  });

  it("measures a matmul rate under the engine's session options", async () => {
    const probe = await MatmulProbe.open(1, false, 32);
    const peak = await probe.measure(2);
    await probe.release();
    expect(peak.n).toBe(32);
    expect(Number.isFinite(peak.flopsPerSecond) && peak.flopsPerSecond > 0).toBe(true);
  });
});
