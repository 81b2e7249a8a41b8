import type { RequestInput, Run, RunRequest } from "./api";

/** A fresh seed; 2³¹ keeps it short enough to read and type back. */
export const randomSeed = () => Math.floor(Math.random() * 2 ** 31);

export function requestInput(input: Run["request"]["input"]): RequestInput {
  return input.kind === "caption" ? { kind: "caption", text: input.text } : { kind: "image", upload: input.upload };
}

/** The request that made a run, ready to send again (optionally changed). */
export function requestOf(run: Run, changes: Partial<RunRequest> = {}): RunRequest {
  const { input, plan, cols, seed, steps, guidanceScale, noiseLevel, scheduler, prompt } = run.request;
  return { preset: run.preset.name, input: requestInput(input), plan, cols, seed, steps, guidanceScale, noiseLevel, scheduler, prompt, ...changes };
}
