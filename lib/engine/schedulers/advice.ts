import type { SchedulerType } from "./types";

/**
 * PNDM's multistep update mixes model outputs from several timesteps; with v-prediction and a few
 * far-apart steps that mix garbles colours (advice.test.ts measures it on the shapes preset).
 */
export const PNDM_MIN_STEPS = 20;

/**
 * A warning for settings that decode but give poor images, or null; shown by the compose form and the
 * CLI. Steps that are not a whole number ≥ 1 get none: the request's validation reports those.
 */
export function schedulerAdvice(scheduler: SchedulerType, steps: number): string | null {
  if (scheduler !== "pndm" || !Number.isInteger(steps) || steps < 1 || steps >= PNDM_MIN_STEPS) return null;
  return `PNDM needs about ${PNDM_MIN_STEPS} steps; at ${steps} its images can come out garbled. DDIM and DPM++ 2M work with fewer.`;
}
