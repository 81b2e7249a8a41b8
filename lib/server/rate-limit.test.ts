import { describe, expect, it } from "vitest";
import { parseBucketRule, TokenBuckets } from "./rate-limit";

describe("TokenBuckets", () => {
  it("allows a burst, then refills at its rate, and says when to come back", () => {
    let now = 0;
    const buckets = new TokenBuckets({ burst: 3, perSecond: 2 }, () => now);
    expect([1, 2, 3].map(() => buckets.take("a").allowed)).toEqual([true, true, true]);
    expect(buckets.take("a")).toEqual({ allowed: false, retryAfterSeconds: 0.5 });
    now = 500;
    expect(buckets.take("a").allowed).toBe(true);
    expect(buckets.take("a").allowed).toBe(false);
    // Other clients have buckets of their own.
    expect(buckets.take("b").allowed).toBe(true);
    // A bucket never holds more than its burst, however long it waited.
    now = 60_000;
    expect([1, 2, 3, 4].map(() => buckets.take("a").allowed)).toEqual([true, true, true, false]);
  });

  it("remembers at most its limit of clients, forgetting the least recently seen", () => {
    const buckets = new TokenBuckets({ burst: 1, perSecond: 1 }, () => 0, 2);
    buckets.take("a");
    buckets.take("b");
    buckets.take("a");
    buckets.take("c");
    expect(buckets.clients).toBe(2);
    expect(buckets.take("a").allowed).toBe(false);
    // b was forgotten, so it starts full again.
    expect(buckets.take("b").allowed).toBe(true);
  });
});

describe("parseBucketRule", () => {
  it("reads BURST/PER_SECOND and off, and names the format otherwise", () => {
    expect(parseBucketRule("300/50")).toEqual({ burst: 300, perSecond: 50 });
    expect(parseBucketRule(" 30 / 0.5 ")).toEqual({ burst: 30, perSecond: 0.5 });
    expect(parseBucketRule("OFF")).toBeNull();
    for (const bad of ["", "300", "0/5", "5/0", "a/b", "-1/2"]) expect(() => parseBucketRule(bad), bad).toThrow(/BURST\/PER_SECOND/);
  });
});
