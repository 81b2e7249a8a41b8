import { SCHEDULER_TYPES, schedulerAdvice } from "@/lib/engine/names";
import type { Plan, PresetInfo, Run, RunRequest, Scheduler } from "../api";
import { planDensity, planFor, requestPlan, type Density, type PlanKind } from "../format";

/** The form's settings as typed: numbers stay strings until submitted so fields can be edited freely. */
export interface Settings {
  preset: string;
  planKind: PlanKind;
  /** "custom" keeps a plan made elsewhere (CLI, API) when re-running it. */
  density: Density | "custom";
  customPlan: Plan | null;
  cols: string;
  seed: string;
  steps: string;
  guidance: string;
  noise: string;
  scheduler: Scheduler;
}

/** The scheduler's warning for the settings as typed (steps the form will refuse get none). */
export const settingsAdvice = ({ scheduler, steps }: Pick<Settings, "scheduler" | "steps">): string | null => schedulerAdvice(scheduler, Number(steps));

/** A preset's defaults, with the plan and grid shape kept from `base` when given. */
export function presetSettings(preset: PresetInfo | undefined, base?: Settings): Settings {
  const defaults = preset?.defaults;
  return {
    preset: preset?.name ?? base?.preset ?? "",
    // Geodesic by default: rows at equal steps of what the decoder sees.
    planKind: base?.planKind ?? "geodesic",
    density: base?.density ?? "coarse",
    customPlan: base?.customPlan ?? null,
    cols: base?.cols ?? "4",
    seed: base?.seed ?? "0",
    steps: String(defaults?.steps ?? 20),
    guidance: String(defaults?.guidanceScale ?? 5),
    noise: String(defaults?.noiseLevel ?? 0),
    // The server's preset view names the scheduler as a string (the preset schema checked it against these).
    scheduler: SCHEDULER_TYPES.find((type) => type === defaults?.scheduler) ?? "pndm",
  };
}

/** Every field as the run had it, for "Edit and re-run". */
export function runSettings(run: Run): Settings {
  const { plan, cols, seed, steps, guidanceScale, noiseLevel, scheduler } = run.request;
  const density = planDensity(plan);
  return {
    preset: run.preset.name,
    planKind: plan.kind,
    density: density ?? "custom",
    customPlan: density ? null : plan,
    cols: String(cols),
    seed: String(seed),
    steps: String(steps),
    guidance: String(guidanceScale),
    noise: String(noiseLevel),
    scheduler,
  };
}

export function planOf(settings: Settings): Plan {
  if (settings.density === "custom" && settings.customPlan?.kind === settings.planKind) return settings.customPlan;
  return planFor(settings.planKind, settings.density === "custom" ? "coarse" : settings.density);
}

type Checked = { ok: true; request: Omit<RunRequest, "input"> } | { ok: false; message: string };

/** The shared part of a run request, or a message naming the first field that is not a number. */
export function settingsRequest(settings: Settings): Checked {
  const numbers: [string, string, boolean][] = [
    ["Columns", settings.cols, true],
    ["Seed", settings.seed, true],
    ["Steps", settings.steps, true],
    ["Guidance", settings.guidance, false],
    ["Noise level", settings.noise, true],
  ];
  for (const [name, text, whole] of numbers) {
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) return { ok: false, message: `${name} must be a number.` };
    if (whole && !Number.isInteger(value)) return { ok: false, message: `${name} must be a whole number.` };
  }
  return {
    ok: true,
    request: {
      ...(settings.preset ? { preset: settings.preset } : {}),
      plan: requestPlan(planOf(settings)),
      cols: Number(settings.cols),
      seed: Number(settings.seed),
      steps: Number(settings.steps),
      guidanceScale: Number(settings.guidance),
      noiseLevel: Number(settings.noise),
      scheduler: settings.scheduler,
    },
  };
}
