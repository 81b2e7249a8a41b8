import { describe, expect, it } from "vitest";
import { HelpRequested, UsageError } from "./args";
import { DEFAULT_CHECKPOINT_EVERY, parseEmbedPairsArgs } from "./embed-pairs-args";

const REQUIRED = ["--preset", "shapes", "--captions", "c.json", "--images", "imgs", "--out", "pairs.npz"];

describe("parseEmbedPairsArgs", () => {
  it("reads the inputs, with the checkpoint interval defaulted and the batch left to the preset", () => {
    expect(parseEmbedPairsArgs(REQUIRED)).toEqual({ preset: "shapes", captions: "c.json", images: "imgs", out: "pairs.npz", checkpointEvery: DEFAULT_CHECKPOINT_EVERY });
    expect(parseEmbedPairsArgs([...REQUIRED, "--batch", "8", "--checkpoint-every", "64", "--stop-after", "16"])).toMatchObject({ batch: 8, checkpointEvery: 64, stopAfter: 16 });
  });

  it("says which flag is missing or wrong and what it accepts", () => {
    const message = (argv: string[]) => {
      try {
        parseEmbedPairsArgs(argv);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error("expected a UsageError");
    };
    expect(message(REQUIRED.slice(2))).toBe("--preset is required: the preset name or folder whose CLIP towers embed the pairs");
    expect(message([...REQUIRED.slice(0, 6), "--out", "pairs.json"])).toContain("--out must name a .npz file");
    expect(message([...REQUIRED, "--batch", "0"])).toBe('--batch must be an integer ≥ 1, got "0"');
    expect(message([...REQUIRED, "--checkpoint-every", "ten"])).toBe('--checkpoint-every must be an integer ≥ 1, got "ten"');
    expect(message([...REQUIRED, "--images", ""])).toContain("--images must not be empty");
    expect(message([...REQUIRED, "extra"])).toContain('unexpected argument "extra"');
    expect(message([...REQUIRED, "--bogus"])).toMatch(/Unknown option '--bogus'/);
  });

  it("answers --help with the usage", () => {
    expect(() => parseEmbedPairsArgs(["--help"])).toThrow(HelpRequested);
    expect(() => parseEmbedPairsArgs(["-h"])).toThrow(/usage: npm run embed-pairs/);
  });
});
