import { describe, expect, it } from "vitest";
import { createProgressBar } from "./progress";

function fakeStream(isTTY: boolean, columns = 80) {
  const writes: string[] = [];
  return { stream: { isTTY, columns, write: (text: string) => writes.push(text) }, writes };
}

describe("createProgressBar", () => {
  it("writes nothing when the stream is not a terminal", () => {
    const { stream, writes } = fakeStream(false);
    const bar = createProgressBar(stream);
    bar.update({ evaluation: 1, evaluations: 2, batch: 0, batches: 1 });
    bar.done();
    expect(writes).toEqual([]);
  });

  it("redraws one line in place and erases it when done", () => {
    const { stream, writes } = fakeStream(true, 60);
    let clock = 0;
    const bar = createProgressBar(stream, () => clock);
    clock = 1500;
    bar.update({ evaluation: 5, evaluations: 20, batch: 0, batches: 1 });
    bar.update({ evaluation: 20, evaluations: 20, batch: 0, batches: 1 });
    bar.done();
    expect(writes).toHaveLength(3);
    expect(writes[0]).toMatch(/^\r\[█+░+\] decoding {2}5\/20 UNet evaluations {2}1\.5 s\x1b\[K$/);
    expect(writes[1]).not.toContain("░");
    for (const line of writes.slice(0, 2)) expect([...line.replace(/\r|\x1b\[K/g, "")].length).toBeLessThan(60);
    const filled = (text: string) => (text.match(/█/g) ?? []).length;
    const total = (text: string) => filled(text) + (text.match(/░/g) ?? []).length;
    expect(filled(writes[0]) / total(writes[0])).toBeCloseTo(0.25, 1);
    expect(writes[2]).toBe("\r\x1b[K");
  });
});
