import { describe, expect, it } from "vitest";
import { canonicalJson, comparisonId, isSha256, isShortId, runId } from "./ids";

describe("ids", () => {
  it("writes canonical JSON with sorted keys at every depth, arrays in order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it("gives equal runs equal ids whatever the key order, and different requests different ids", () => {
    const id = runId("digest", { seed: 0, input: { kind: "caption", text: "a" } });
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(runId("digest", { input: { text: "a", kind: "caption" }, seed: 0 })).toBe(id);
    expect(runId("digest", { seed: 1, input: { kind: "caption", text: "a" } })).not.toBe(id);
    expect(runId("other", { seed: 0, input: { kind: "caption", text: "a" } })).not.toBe(id);
  });

  it("derives comparison ids from run ids in order", () => {
    expect(comparisonId(["aaa", "bbb"])).not.toBe(comparisonId(["bbb", "aaa"]));
    expect(comparisonId(["aaa", "bbb"])).toMatch(/^[0-9a-f]{12}$/);
  });

  it("recognises hashes and short ids", () => {
    expect(isSha256("a".repeat(64))).toBe(true);
    expect(isSha256("A".repeat(64))).toBe(false);
    expect(isShortId("0123456789ab")).toBe(true);
    expect(isShortId("0123456789abc")).toBe(false);
  });
});
