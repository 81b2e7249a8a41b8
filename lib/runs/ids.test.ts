import { describe, expect, it } from "vitest";
import { canonicalJson, isPublicId, isSha256, newPublicId, newSecretKey, runId } from "./ids";

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

  it("makes public ids and secret keys at random, each new", () => {
    const made = Array.from({ length: 1000 }, newPublicId);
    expect(new Set(made).size).toBe(made.length);
    for (const id of made.slice(0, 20)) expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(newSecretKey()).toMatch(/^[\w-]{32}$/);
    expect(newSecretKey()).not.toBe(newSecretKey());
  });

  it("recognises hashes and public ids, the 12-digit ids of migrated links among them", () => {
    expect(isSha256("a".repeat(64))).toBe(true);
    expect(isSha256("A".repeat(64))).toBe(false);
    expect(isPublicId("0123456789ab")).toBe(true);
    expect(isPublicId("0123456789ab".repeat(2))).toBe(true);
    for (const bad of ["0123456789abc", "0123456789ab".repeat(2) + "0", "0123456789AB", "../0123456789", 12]) expect(isPublicId(bad)).toBe(false);
  });
});
