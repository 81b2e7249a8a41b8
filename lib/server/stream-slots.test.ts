import { describe, expect, it } from "vitest";
import { StreamSlots } from "./stream-slots";

describe("StreamSlots", () => {
  it("refuses past the per-run and per-client limits, and frees a slot once per release", () => {
    const slots = new StreamSlots({ perRun: 3, perClient: 2 });
    const a1 = slots.acquire("run", "a");
    const a2 = slots.acquire("run", "a");
    expect(slots.acquire("run", "a")).toEqual({ reason: "client", limit: 2 });
    const b1 = slots.acquire("run", "b");
    expect(slots.acquire("run", "c")).toEqual({ reason: "run", limit: 3 });
    // Another run has its own count; the client's count still binds.
    expect(slots.acquire("other", "a")).toEqual({ reason: "client", limit: 2 });
    expect("release" in a1 && "release" in a2 && "release" in b1).toBe(true);
    if (!("release" in a1)) return;
    a1.release();
    a1.release();
    expect(slots.open("run")).toBe(2);
    expect("release" in slots.acquire("run", "c")).toBe(true);
    expect(slots.acquire("run", "d")).toEqual({ reason: "run", limit: 3 });
  });

  it("counts only the run when the client is unknown", () => {
    const slots = new StreamSlots({ perRun: 2, perClient: 1 });
    expect("release" in slots.acquire("run", null)).toBe(true);
    expect("release" in slots.acquire("run", null)).toBe(true);
    expect(slots.acquire("run", null)).toEqual({ reason: "run", limit: 2 });
  });
});
