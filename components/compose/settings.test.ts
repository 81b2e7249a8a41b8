import { describe, expect, it } from "vitest";
import { PNDM_MIN_STEPS } from "@/lib/engine/names";
import { settingsAdvice } from "./settings";

describe("settingsAdvice", () => {
  it("passes the typed steps on to the scheduler advice", () => {
    expect(settingsAdvice({ scheduler: "pndm", steps: "10" })).toContain("at 10");
    expect(settingsAdvice({ scheduler: "pndm", steps: String(PNDM_MIN_STEPS) })).toBeNull();
    expect(settingsAdvice({ scheduler: "ddim", steps: "3" })).toBeNull();
  });

  it("says nothing about steps the form will refuse anyway", () => {
    for (const steps of ["", "0", "2.5", "abc"]) expect(settingsAdvice({ scheduler: "pndm", steps })).toBeNull();
  });
});
